// Password logins for the pages the project serves (noc studio, the box's own page):
// passwords stored as scrypt hashes (N=2^15, r=8, p=1, 16-byte salt); sessions after a
// login (random 32-byte tokens, for an HttpOnly SameSite=Strict cookie), a CSRF token per
// session for every state-changing request, and failed logins limited per client address
// (5 in 5 min, then 429 until the window passes). Nothing here keeps a password or a
// token on disk.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/** Who may log in: a name, the groups they may act for (empty where there are none), an scrypt hash. */
export interface Operator {
  name: string;
  groups: string[];
  /** `scrypt$N$r$p$salt$hash` (salt and hash base64url). */
  hash: string;
}

const N = 1 << 15;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MAXMEM = 64 * 1024 * 1024;

export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const h = scryptSync(password, salt, KEYLEN, { N, r: R, p: P, maxmem: MAXMEM });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${h.toString('base64url')}`;
}

/** A dummy hash, so an unknown name costs the same scrypt as a known one. */
const DUMMY = hashPassword('not a password of anyone');

/** On libuv's thread pool: ~100 ms of scrypt never blocks the studio's event loop (a broadcast in progress). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64url');
  const got = await new Promise<Buffer>((resolve, reject) =>
    scrypt(
      password,
      Buffer.from(salt, 'base64url'),
      want.length,
      { N: Number(n), r: Number(r), p: Number(p), maxmem: MAXMEM },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
  return got.length === want.length && timingSafeEqual(got, want);
}

export interface Login {
  name: string;
  groups: string[];
  csrf: string;
  expires: number;
}

const SESSION_MS = 8 * 3_600_000;
const FAIL_WINDOW_MS = 5 * 60_000;
const MAX_FAILS = 5;

export class Logins {
  private readonly sessions = new Map<string, Login>();
  private readonly fails = new Map<string, number[]>();
  /** Attempts being verified now, per address: they count against the limit until they succeed. */
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly operators: () => Operator[],
    /** How long a session lasts from its login (default 8 h). */
    private readonly sessionMs = SESSION_MS,
  ) {}

  /**
   * Seconds to wait when `addr` failed too often (failures in the window, and attempts
   * still being verified, count); 0 when it may try, and the attempt is then counted in
   * flight until login() settles it. A success does not wipe earlier failures: one valid
   * account must not reopen the guessing of another.
   */
  begin(addr: string, now = Date.now()): number {
    const f = (this.fails.get(addr) ?? []).filter((t) => now - t < FAIL_WINDOW_MS);
    this.fails.set(addr, f);
    if (f.length + (this.inFlight.get(addr) ?? 0) >= MAX_FAILS)
      return Math.max(1, Math.ceil(((f[0] ?? now) + FAIL_WINDOW_MS - now) / 1000));
    this.inFlight.set(addr, (this.inFlight.get(addr) ?? 0) + 1);
    return 0;
  }

  /** After begin(): a session token for a right name and password; null (and a failure counted) otherwise. */
  async login(addr: string, name: string, password: string): Promise<{ token: string; login: Login } | null> {
    const op = this.operators().find((o) => o.name === name);
    const ok = (await verifyPassword(password, op?.hash ?? DUMMY)) && op !== undefined;
    const now = Date.now();
    this.inFlight.set(addr, Math.max(0, (this.inFlight.get(addr) ?? 1) - 1));
    if (!ok || !op) {
      this.fails.set(addr, [...(this.fails.get(addr) ?? []), now]);
      return null;
    }
    const token = randomBytes(32).toString('base64url');
    const login = {
      name: op.name,
      groups: op.groups,
      csrf: randomBytes(24).toString('base64url'),
      expires: now + this.sessionMs,
    };
    this.sessions.set(token, login);
    return { token, login };
  }

  /** The login of a token, with the operator's groups as the file says them now (removed: logged out). */
  get(token: string | undefined, now = Date.now()): Login | null {
    if (!token) return null;
    const l = this.sessions.get(token);
    if (!l) return null;
    const op = l.expires > now ? this.operators().find((o) => o.name === l.name) : undefined;
    if (!op) {
      this.sessions.delete(token);
      return null;
    }
    l.groups = op.groups;
    return l;
  }

  logout(token: string | undefined): void {
    if (token) this.sessions.delete(token);
  }
}
