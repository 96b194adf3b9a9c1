// XML signatures on CAP alerts (CAP 1.2 §3.3.2.1: an enveloped XML-Signature over the
// whole alert), checked against pinned certificates with node:crypto only.
//
// Accepted, and nothing else (anything else is refused with its reason):
//   one <Signature> (http://www.w3.org/2000/09/xmldsig#), a child of <alert>, none elsewhere;
//   CanonicalizationMethod: Exclusive XML Canonicalization 1.0 without comments
//     (http://www.w3.org/2001/10/xml-exc-c14n#), optional InclusiveNamespaces PrefixList;
//   one Reference, URI="" (the whole alert), Transforms exactly enveloped-signature then
//     exclusive c14n; DigestMethod SHA-256, SHA-384 or SHA-512;
//   SignatureMethod RSA (PKCS#1 v1.5) or ECDSA with SHA-256/384/512. SHA-1 is refused.
// The signer's key is the pinned certificate's (--cap-cert), never a KeyInfo in the
// message: a key an attacker can put in the alert proves nothing.
import { createHash, verify, type KeyObject, type X509Certificate } from 'node:crypto';
import { XmlError, type XmlElement, type XmlNode } from './xml-tree.js';
import { parseXml } from './xml.js';

export const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const DIGESTS: Record<string, string> = {
  'http://www.w3.org/2001/04/xmlenc#sha256': 'sha256',
  'http://www.w3.org/2001/04/xmldsig-more#sha384': 'sha384',
  'http://www.w3.org/2001/04/xmlenc#sha512': 'sha512',
};
const SIGNATURES: Record<string, { hash: string; key: 'rsa' | 'ec' }> = {
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': { hash: 'sha256', key: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384': { hash: 'sha384', key: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': { hash: 'sha512', key: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256': { hash: 'sha256', key: 'ec' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384': { hash: 'sha384', key: 'ec' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512': { hash: 'sha512', key: 'ec' },
};

const escText = (t: string) =>
  t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#xD;');
const escAttr = (t: string) =>
  t
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#x9;')
    .replace(/\n/g, '&#xA;')
    .replace(/\r/g, '&#xD;');

/**
 * Exclusive XML Canonicalization 1.0, without comments, of the subtree at `apex` minus
 * the subtrees `omit` says (the enveloped signature). Namespace declarations are
 * rendered where visibly used (the element's prefix, its attributes' prefixes, and the
 * InclusiveNamespaces prefixes in scope) unless an output ancestor rendered the same;
 * declarations sorted by prefix (default first), attributes by namespace URI then local name.
 */
export function excC14n(
  apex: XmlElement,
  inclusive: readonly string[] = [],
  omit: (el: XmlElement) => boolean = () => false,
): string {
  const out: string[] = [];
  const incl = inclusive.map((p) => (p === '#default' ? '' : p));
  const element = (el: XmlElement, rendered: Map<string, string>) => {
    const mine = new Map(rendered);
    const used = new Set<string>([
      el.prefix,
      ...el.attrList.filter((a) => a.prefix !== '').map((a) => a.prefix),
      ...incl.filter((p) => p in el.scope),
    ]);
    used.delete('xml');
    const decls: string[] = [];
    for (const p of [...used].sort()) {
      const uri = el.scope[p] ?? '';
      if (p === '' && uri === '') {
        if ((mine.get('') ?? '') !== '') {
          decls.push(' xmlns=""');
          mine.set('', '');
        }
        continue;
      }
      if (mine.get(p) === uri) continue;
      mine.set(p, uri);
      decls.push(p === '' ? ` xmlns="${escAttr(uri)}"` : ` xmlns:${p}="${escAttr(uri)}"`);
    }
    const attrs = [...el.attrList].sort((a, b) =>
      a.ns === b.ns ? (a.local < b.local ? -1 : a.local > b.local ? 1 : 0) : a.ns < b.ns ? -1 : 1,
    );
    const qname = el.prefix ? `${el.prefix}:${el.name}` : el.name;
    out.push(`<${qname}${decls.join('')}${attrs.map((a) => ` ${a.qname}="${escAttr(a.value)}"`).join('')}>`);
    for (const n of el.content) node(n, mine);
    out.push(`</${qname}>`);
  };
  const node = (n: XmlNode, rendered: Map<string, string>) => {
    if ('name' in n) {
      if (!omit(n)) element(n, rendered);
    } else if ('pi' in n) out.push(`<?${n.pi}${n.data ? ` ${n.data}` : ''}?>`);
    else out.push(escText(n.text));
  };
  element(apex, new Map());
  return out.join('');
}

export type SignatureVerdict = { ok: true; subject: string; algorithm: string } | { ok: false; reason: string };

const dsig = (el: XmlElement, name: string) => el.children.filter((c) => c.ns === DSIG_NS && c.name === name);
function only(el: XmlElement, name: string): XmlElement {
  const l = dsig(el, name);
  if (l.length !== 1) throw new SigError(`<${el.name}> must have exactly one <${name}> (has ${l.length})`);
  return l[0]!;
}
class SigError extends Error {}

function count(el: XmlElement, pred: (e: XmlElement) => boolean): number {
  return (pred(el) ? 1 : 0) + el.children.reduce((n, c) => n + count(c, pred), 0);
}

/** The PrefixList of an Exclusive C14N method or transform element. */
function prefixList(method: XmlElement): string[] {
  const inc = method.children.find((c) => c.ns === EXC_C14N && c.name === 'InclusiveNamespaces');
  const extra = method.children.filter((c) => c !== inc);
  if (extra.length) throw new SigError(`unexpected <${extra[0]!.name}> in <${method.name}>`);
  return inc?.attrs.PrefixList?.trim().split(/\s+/).filter(Boolean) ?? [];
}

function keyKind(k: KeyObject): 'rsa' | 'ec' | string {
  return k.asymmetricKeyType === 'rsa' || k.asymmetricKeyType === 'rsa-pss' ? 'rsa' : (k.asymmetricKeyType ?? '?');
}

/** Checks the enveloped signature of a CAP message against the pinned certificates. */
export function verifyCapSignature(xml: string, certs: readonly X509Certificate[], now = Date.now()): SignatureVerdict {
  try {
    let root: XmlElement;
    try {
      root = parseXml(xml);
    } catch (err) {
      if (err instanceof XmlError) throw new SigError(err.message);
      throw err;
    }
    if (root.outsidePis)
      throw new SigError('processing instructions outside the alert are not supported in a signed alert');
    const isSig = (e: XmlElement) => e.ns === DSIG_NS && e.name === 'Signature';
    const sigs = dsig(root, 'Signature');
    if (sigs.length === 0) throw new SigError('the alert is not signed (no <Signature> child of <alert>)');
    if (sigs.length > 1 || count(root, isSig) !== 1)
      throw new SigError('the alert must carry exactly one <Signature>, a child of <alert>');
    const sig = sigs[0]!;
    const si = only(sig, 'SignedInfo');
    if (dsig(sig, 'Object').length) throw new SigError('<Object> in the signature is not supported');
    const cm = only(si, 'CanonicalizationMethod');
    if (cm.attrs.Algorithm !== EXC_C14N)
      throw new SigError(
        `CanonicalizationMethod ${cm.attrs.Algorithm ?? '(none)'} is not supported (only ${EXC_C14N})`,
      );
    const sm = only(si, 'SignatureMethod').attrs.Algorithm ?? '';
    const alg = SIGNATURES[sm];
    if (!alg)
      throw new SigError(
        `SignatureMethod ${sm || '(none)'} is not accepted (RSA or ECDSA with SHA-256/384/512; SHA-1 is refused)`,
      );
    const ref = only(si, 'Reference');
    if (ref.attrs.URI !== '')
      throw new SigError(
        `Reference URI ${JSON.stringify(ref.attrs.URI ?? null)}: only URI="" (the whole alert) is accepted`,
      );
    const transforms = dsig(only(ref, 'Transforms'), 'Transform');
    if (
      transforms.length !== 2 ||
      transforms[0]!.attrs.Algorithm !== ENVELOPED ||
      transforms[1]!.attrs.Algorithm !== EXC_C14N
    )
      throw new SigError('Transforms must be exactly enveloped-signature, then exclusive c14n');
    const dm = only(ref, 'DigestMethod').attrs.Algorithm ?? '';
    const hash = DIGESTS[dm];
    if (!hash) throw new SigError(`DigestMethod ${dm || '(none)'} is not accepted (SHA-256/384/512; SHA-1 is refused)`);
    const digest = createHash(hash)
      .update(excC14n(root, prefixList(transforms[1]!), isSig), 'utf8')
      .digest('base64');
    const claimed = only(ref, 'DigestValue').text.replace(/\s+/g, '');
    if (digest !== claimed) throw new SigError('the digest does not match: the alert was changed after it was signed');
    const value = Buffer.from(only(sig, 'SignatureValue').text.replace(/\s+/g, ''), 'base64');
    const signedInfo = Buffer.from(excC14n(si, prefixList(cm)), 'utf8');
    const tried: string[] = [];
    for (const cert of certs) {
      const k = cert.publicKey;
      if (keyKind(k) !== alg.key) {
        tried.push(`${cert.subject.replace(/\n/g, ', ')}: a ${k.asymmetricKeyType} key, the signature is ${alg.key}`);
        continue;
      }
      const ok = verify(alg.hash, signedInfo, alg.key === 'ec' ? { key: k, dsaEncoding: 'ieee-p1363' } : k, value);
      if (!ok) {
        tried.push(`${cert.subject.replace(/\n/g, ', ')}: signature does not verify`);
        continue;
      }
      if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo))
        throw new SigError(
          `signed by ${cert.subject.replace(/\n/g, ', ')}, whose certificate is not valid now (${cert.validFrom} to ${cert.validTo})`,
        );
      return { ok: true, subject: cert.subject.replace(/\n/g, ', '), algorithm: sm.split('#')[1]! };
    }
    throw new SigError(`no pinned certificate verifies the signature (${tried.join('; ') || 'none pinned'})`);
  } catch (err) {
    if (err instanceof SigError) return { ok: false, reason: err.message };
    throw err;
  }
}
