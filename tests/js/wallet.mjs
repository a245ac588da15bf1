// Computes, with the official TypeScript SDK, the wallet values the Rust
// tests compare against: addresses, suiprivkey strings, public keys,
// personal-message signatures, and verification of Rust-made signatures.
// Input and output are JSON on stdin/stdout.
import { Ed25519Keypair } from '@mysten/sui/keypairs/ed25519';
import { Secp256k1Keypair } from '@mysten/sui/keypairs/secp256k1';
import { Secp256r1Keypair } from '@mysten/sui/keypairs/secp256r1';
import { verifyPersonalMessageSignature } from '@mysten/sui/verify';
import { fromHex } from '@mysten/sui/utils';

const KEYPAIRS = {
  ed25519: Ed25519Keypair,
  secp256k1: Secp256k1Keypair,
  secp256r1: Secp256r1Keypair,
};

async function describe(keypair, messages) {
  const signatures = [];
  for (const message of messages) {
    const { signature } = await keypair.signPersonalMessage(fromHex(message));
    signatures.push(signature);
  }
  return {
    address: keypair.toSuiAddress(),
    suiprivkey: keypair.getSecretKey(),
    public_key: keypair.getPublicKey().toSuiPublicKey(),
    signatures,
  };
}

async function verify({ message, signature, address }) {
  try {
    await verifyPersonalMessageSignature(fromHex(message), signature, { address });
    return 'ok';
  } catch (error) {
    return String(error.message ?? error);
  }
}

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (chunk) => (text += chunk));
  process.stdin.on('end', () => resolve(text));
}));

const output = { keys: [], mnemonics: [], verified: [] };
for (const { scheme, secret } of input.keys) {
  output.keys.push(await describe(KEYPAIRS[scheme].fromSecretKey(fromHex(secret)), input.messages));
}
for (const { scheme, phrase, path } of input.mnemonics) {
  output.mnemonics.push(await describe(KEYPAIRS[scheme].deriveKeypair(phrase, path), input.messages));
}
for (const item of input.rust_signatures) {
  output.verified.push(await verify(item));
}
process.stdout.write(JSON.stringify(output));
