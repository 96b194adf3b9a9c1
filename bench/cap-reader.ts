// The CAP reader's budgets (noc/cap/xml.ts, issue [3/8]): the worst document inside every
// budget (5 MB: 31 namespaces in scope, 20,000 elements, 60 attributes on every 20th, 31 levels,
// text up to the byte budget) parsed in-process, beside `xmllint --noout` on the same
// bytes (Debian libxml2-utils) as the anchor; peak RSS of a child process that parses it
// beside a bare node and xmllint (python3's getrusage of the child). And what the budgets
// refuse: the namespace bomb and the attribute flood that took 27 s / 8.3 s before.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CAP_BUDGETS, XmlBudgetError } from '../noc/cap/xml-tree.js';
import { parseXml } from '../noc/cap/xml.js';
import { tempDir } from '../test/helpers/tmp.js';
import { REPO_ROOT } from '../test/helpers/agent-process.js';
import { size } from './smoke.js';

type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;

/** A document just inside every budget. */
export function worstInsideBudgets(): string {
  const ns = Array.from({ length: 31 }, (_, k) => `xmlns:p${k}="urn:loa:bench:${k}"`).join(' ');
  const attrs = Array.from({ length: 60 }, (_, k) => `a${k}="v${k}"`).join(' ');
  const deep = '<d>'.repeat(30) + 'x' + '</d>'.repeat(30);
  const head = `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" ${ns}>${deep}`;
  const n = CAP_BUDGETS.elements - 32; // the root and the nest above are the rest
  const wide = `<e ${attrs}>`; // every 20th element carries 60 attributes
  const narrow = '<e a="1" b="2">';
  const tags = Array.from({ length: n }, (_, k) => (k % 20 === 0 ? wide : narrow));
  const fixed = head.length + '</alert>'.length + tags.reduce((t, x) => t + x.length + 4, 0);
  const each = Math.max(0, Math.floor((CAP_BUDGETS.bytes - fixed - 1024) / n));
  const text = 't'.repeat(each);
  const body = tags.map((t) => `${t}${text}</e>`).join('');
  return `${head}${body}</alert>`;
}

function childPeak(cmd: string[]): { ms: number; rssKb: number } {
  const py =
    'import resource,subprocess,sys,time\nt=time.time()\nsubprocess.run(sys.argv[1:],check=True,stdout=subprocess.DEVNULL)\nprint((time.time()-t)*1000, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
  const r = spawnSync('python3', ['-c', py, ...cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  const [ms, kb] = r.stdout.trim().split(/\s+/).map(Number);
  return { ms: ms!, rssKb: kb! };
}

export function benchCapReader(add: Add): void {
  const xml = worstInsideBudgets();
  const bytes = Buffer.byteLength(xml);
  const dir = tempDir('bench-cap-reader');
  const file = join(dir, 'worst.xml');
  writeFileSync(file, xml);
  const runs = size(5, 1);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const root = parseXml(xml);
    times.push(performance.now() - t0);
    if (root.children.length !== CAP_BUDGETS.elements - 31) throw new Error(`parsed ${root.children.length} children`);
  }
  const best = Math.min(...times);
  const hasXmllint = spawnSync('sh', ['-c', 'command -v xmllint']).status === 0;
  const lint = hasXmllint ? childPeak(['xmllint', '--noout', file]) : undefined;
  add(
    `CAP reader: worst document inside every budget (${(bytes / 1e6).toFixed(2)} MB), parse, best of ${runs}`,
    `${best.toFixed(0)} ms`,
    lint
      ? `anchor xmllint --noout ${lint.ms.toFixed(0)} ms (${(best / lint.ms).toFixed(1)}x, process start included in xmllint)`
      : 'xmllint not installed (libxml2-utils)',
  );
  const parser = `import { readFileSync } from 'node:fs'; import { parseXml } from ${JSON.stringify(join(REPO_ROOT, 'noc/cap/xml.ts'))}; parseXml(readFileSync(${JSON.stringify(file)}, 'utf8'));`;
  const node = childPeak([process.execPath, '--import', 'tsx', '-e', parser]);
  const bare = childPeak([process.execPath, '--import', 'tsx', '-e', '0']);
  add(
    'CAP reader: peak RSS of a process parsing it',
    `${(node.rssKb / 1024).toFixed(0)} MB`,
    `anchors: bare node+tsx ${(bare.rssKb / 1024).toFixed(0)} MB (+${((node.rssKb - bare.rssKb) / 1024).toFixed(0)} MB)${lint ? `, xmllint ${(lint.rssKb / 1024).toFixed(0)} MB` : ''}`,
  );
  // What the budgets refuse, and how fast (before: 27 s / 2.08 GB and 8.3 s).
  const bomb = `<alert ${Array.from({ length: 30 }, (_, k) => `xmlns:p${k}="urn:x:${k}"`).join(' ')}>${Array.from({ length: 400 }, (_, k) => `<code ${Array.from({ length: 5 }, (_, j) => `xmlns:q${j}="urn:y:${k}:${j}"`).join(' ')}>${'<x/>'.repeat(49)}</code>`).join('')}</alert>`;
  const flood = `<a ${Array.from({ length: 40_000 }, (_, k) => `a${k}="1"`).join(' ')}/>`;
  for (const [what, doc, budget] of [
    ['2,000 namespace declarations over 20,000 elements', bomb, 'namespaces'],
    ['40,000 attributes on one element', flood, 'attributes'],
  ] as const) {
    const t0 = performance.now();
    try {
      parseXml(doc);
      throw new Error(`${what}: not refused`);
    } catch (err) {
      if (!(err instanceof XmlBudgetError) || err.budget !== budget) throw err;
    }
    const ms = performance.now() - t0;
    add(
      `CAP reader: ${what}, refused (${budget} budget)`,
      `${ms.toFixed(1)} ms`,
      'before the budgets: 27 s / 2.08 GB and 8.3 s',
      ms < 1000,
    );
  }
}

/**
 * A feed whose first three links send their headers and then a byte every 5 s, then the
 * real alert: `noc cap --feed --once` (in-process, dry run) until the poll is done, beside
 * the same feed whose three links answer at once (the anchor). Goal: ≤ 35 s (it was 90.9 s).
 */
export async function benchCapFeed(add: Add): Promise<void> {
  const { createServer } = await import('node:http');
  const { MAPPING_JSON, capTime, capXml } = await import('../test/helpers/cap.js');
  const { main } = await import('../noc/cli.js');
  const { memoryIo } = await import('../noc/io.js');
  const dir = tempDir('bench-cap-feed');
  writeFileSync(join(dir, 'mapping.json'), JSON.stringify(MAPPING_JSON));
  const audio = Buffer.alloc(20_000, 3);
  const { createHash } = await import('node:crypto');
  const now = Date.now();
  const alert = capXml({
    identifier: 'VN-BENCH-FEED',
    sent: capTime(now - 60_000),
    infos: [
      {
        expires: capTime(now + 3_600_000),
        resources: [{ uri: 'AUDIO', size: audio.length, digest: createHash('sha1').update(audio).digest('hex') }],
      },
    ],
  });
  let slow = true;
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const host = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    if (url === '/audio.mp3') return void res.writeHead(200).end(audio);
    if (url === '/feed.atom') {
      const entries = ['/l1.xml', '/l2.xml', '/l3.xml', '/real.xml']
        .map(
          (p) =>
            `<entry><id>${p}</id><title>x</title><updated>2026-12-06T00:00:00Z</updated><link type="application/cap+xml" href="${host}${p}"/></entry>`,
        )
        .join('');
      return void res
        .writeHead(200)
        .end(
          `<feed xmlns="http://www.w3.org/2005/Atom"><id>f</id><title>f</title><updated>2026-12-06T00:00:00Z</updated>${entries}</feed>`,
        );
    }
    const body = alert.replace('AUDIO', `${host}/audio.mp3`);
    if (url === '/real.xml' || !slow) return void res.writeHead(200).end(body);
    res.writeHead(200, { 'content-length': String(body.length) });
    res.flushHeaders(); // the headers at once, then the trickle
    let i = 0;
    const t = setInterval(() => (i < body.length ? res.write(body[i++]!) : (clearInterval(t), res.end())), 5000);
    timers.add(t);
    res.on('close', () => (clearInterval(t), timers.delete(t)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const poll = async (k: number) => {
    const io = memoryIo();
    const t0 = performance.now();
    await main(
      [
        'cap',
        '--feed',
        `${base}/feed.atom`,
        '--once',
        '--dry-run',
        '--allow-private',
        '--mapping',
        join(dir, 'mapping.json'),
        '--state',
        join(dir, `s${k}.json`),
      ],
      io,
    );
    if (!io.stdout.some((l) => /would publish .*VN-BENCH-FEED/.test(l)))
      throw new Error(`the real alert was not handled:\n${io.stdout.join('\n')}`);
    return performance.now() - t0;
  };
  try {
    const withSlow = await poll(1);
    slow = false;
    const fast = await poll(2);
    add(
      'noc cap --feed: 3 links trickling a byte every 5 s, then the real alert: poll done',
      `${(withSlow / 1000).toFixed(1)} s`,
      `goal ≤ 35 s (was 90.9 s); anchor: the same feed answered at once ${(fast / 1000).toFixed(1)} s`,
      withSlow <= 35_000,
    );
  } finally {
    for (const t of timers) clearInterval(t);
    server.closeAllConnections();
    server.close();
  }
}
