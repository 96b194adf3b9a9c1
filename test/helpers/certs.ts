// Test PKI made with the openssl command line: a CA, a server certificate for
// localhost/127.0.0.1, and a client certificate for mutual TLS.
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pki {
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makePki(dir: string, name = 'test'): Pki {
  const p = (f: string) => join(dir, `${name}-${f}`);
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name} test CA`,
      '-keyout',
      p('ca.key'),
      '-out',
      p('ca.crt'),
    ],
    dir,
  );
  const ext = p('server.ext');
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  issue(p('server'), '/CN=localhost', ext);
  const cext = p('client.ext');
  writeFileSync(cext, 'extendedKeyUsage=clientAuth\n');
  issue(p('client'), '/CN=vn-79-26734-01', cext);
  for (const k of ['ca.key', 'server.key', 'client.key']) chmodSync(p(k), 0o600);
  return {
    ca: p('ca.crt'),
    caKey: p('ca.key'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
  };

  function issue(base: string, subj: string, extfile: string): void {
    openssl(
      [
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        subj,
        '-keyout',
        `${base}.key`,
        '-out',
        `${base}.csr`,
      ],
      dir,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${base}.csr`,
        '-CA',
        p('ca.crt'),
        '-CAkey',
        p('ca.key'),
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        extfile,
        '-out',
        `${base}.crt`,
      ],
      dir,
    );
  }
}
