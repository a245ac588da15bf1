// Builds K3s-DaaS worker-proof payloads (docs/worker-proof.md) with the
// official TypeScript SDK's BCS, signs them as personal messages, and
// verifies Rust-made proofs. Input and output are JSON on stdin/stdout.
import { bcs } from '@mysten/sui/bcs';
import { Ed25519Keypair } from '@mysten/sui/keypairs/ed25519';
import { verifyPersonalMessageSignature } from '@mysten/sui/verify';
import { fromHex, toHex } from '@mysten/sui/utils';

const Payload = bcs.struct('Payload', {
  domain: bcs.string(),
  version: bcs.u8(),
  purpose: bcs.u8(),
  seal_token: bcs.Address,
  owner: bcs.Address,
  node_id: bcs.string(),
  audience: bcs.string(),
  issued_at: bcs.u64(),
  nonce: bcs.fixedArray(16, bcs.u8()),
});

const PURPOSES = { register: 0, heartbeat: 1 };

function b64urlDecode(text) {
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

async function make({ secret, claims }) {
  const keypair = Ed25519Keypair.fromSecretKey(fromHex(secret));
  const payload = Payload.serialize({
    domain: 'k3s-daas/worker-proof/v1',
    version: 1,
    purpose: PURPOSES[claims.purpose],
    seal_token: claims.seal_token,
    owner: keypair.toSuiAddress(),
    node_id: claims.node_id,
    audience: claims.audience,
    issued_at: BigInt(claims.issued_at),
    nonce: Array.from(fromHex(claims.nonce)),
  }).toBytes();
  const { signature } = await keypair.signPersonalMessage(payload);
  return { payload: toHex(payload), signature };
}

async function verify(proof) {
  const [prefix, payload, signature] = proof.split('.');
  if (prefix !== 'daasw1') return 'bad prefix';
  const bytes = b64urlDecode(payload);
  const decoded = Payload.parse(bytes);
  try {
    await verifyPersonalMessageSignature(bytes, b64urlDecode(signature).toString('base64'), {
      address: decoded.owner,
    });
    return { ok: true, node_id: decoded.node_id, issued_at: decoded.issued_at, purpose: decoded.purpose };
  } catch (error) {
    return { ok: false, error: String(error.message ?? error) };
  }
}

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => (text += chunk));
  process.stdin.on('end', () => resolve(text));
}));

const output = { made: [], verified: [] };
for (const request of input.make) output.made.push(await make(request));
for (const proof of input.verify) output.verified.push(await verify(proof));
process.stdout.write(JSON.stringify(output));
