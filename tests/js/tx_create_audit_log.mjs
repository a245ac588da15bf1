// Builds the audit::create_log programmable transaction with the official
// TypeScript SDK (@mysten/sui), offline, and prints its BCS bytes and digest.
//
// Input: one JSON object on stdin
//   { sender, gasPrice, gasBudget, gasPayment: [{objectId, version, digest}],
//     package, enclave: {objectId, initialSharedVersion},
//     config: {objectId, initialSharedVersion}, timestampMs, signatureHex }
// (integers as decimal strings). Output: one JSON line
//   { "bytes": "<base64 TransactionData>", "digest": "<base58>" }
//
// The PTB is <package>::audit::create_log(enclave, config, timestamp_ms,
// signature, clock), the argument order of contracts/README.md.
import { Transaction } from '@mysten/sui/transactions';
import { bcs } from '@mysten/sui/bcs';
import { fromHex, toBase64 } from '@mysten/sui/utils';

const CLOCK = { objectId: '0x6', initialSharedVersion: 1, mutable: false };

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function need(input, key) {
  if (input[key] === undefined || input[key] === null) {
    throw new Error(`input field "${key}" is missing`);
  }
  return input[key];
}

function shared(tx, object) {
  return tx.sharedObjectRef({
    objectId: object.objectId,
    initialSharedVersion: object.initialSharedVersion,
    mutable: false,
  });
}

async function main() {
  const input = JSON.parse(await readStdin());
  const tx = new Transaction();
  tx.setSender(need(input, 'sender'));
  tx.setGasPrice(BigInt(need(input, 'gasPrice')));
  tx.setGasBudget(BigInt(need(input, 'gasBudget')));
  tx.setGasPayment(
    need(input, 'gasPayment').map((c) => ({
      objectId: c.objectId,
      version: c.version,
      digest: c.digest,
    })),
  );
  tx.moveCall({
    target: `${need(input, 'package')}::audit::create_log`,
    arguments: [
      shared(tx, need(input, 'enclave')),
      shared(tx, need(input, 'config')),
      tx.pure.u64(BigInt(need(input, 'timestampMs'))),
      tx.pure(bcs.vector(bcs.u8()).serialize(fromHex(need(input, 'signatureHex')))),
      tx.sharedObjectRef(CLOCK),
    ],
  });

  const bytes = await tx.build();
  const digest = await tx.getDigest();
  process.stdout.write(JSON.stringify({ bytes: toBase64(bytes), digest }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`tx_create_audit_log.mjs: ${err?.stack ?? err}\n`);
  process.exit(1);
});
