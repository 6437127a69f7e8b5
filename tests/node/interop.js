#!/usr/bin/env node
// The official Fabric Gateway client (@hyperledger/fabric-gateway) against a running
// scfchain network, used exactly as Fabric's samples use it. Driven by
// tests/interop/test_fabric_gateway_client.py.
//
// Reads one JSON configuration on stdin:
//
//   {"endpoint": "127.0.0.1:7051", "hostOverride": "peer0.core.scf.example",
//    "tlsRootCert": path, "tlsClientCert": path, "tlsClientKey": path,
//    "mspId": "CoreMSP", "cert": path, "key": path,
//    "channel": "trade", "chaincode": "bench", "prefix": "unique-key-prefix",
//    "endorsers": ["CoreMSP", "BankMSP"]}   the orgs bench's endorsement policy names
//
// and writes one JSON object per line on stdout, one per step:
//
//   {"step": name, "ok": true, ...details}     the step ran; details for the test to check
//   {"step": name, "ok": false, "error": {...}} the step threw; the error as the client saw it
//
// The last line is {"step": "done"}. Unexpected failures go to stderr with exit status 1.
'use strict';

const fs = require('node:fs');
const crypto = require('node:crypto');
const grpc = require('@grpc/grpc-js');
const { common } = require('@hyperledger/fabric-protos');
const {
    checkpointers,
    connect,
    hash,
    signers,
    CommitError,
    EndorseError,
    SubmitError,
    CommitStatusError,
    GatewayError,
} = require('@hyperledger/fabric-gateway');

const utf8Decoder = new TextDecoder();

function emit(step, details) {
    process.stdout.write(JSON.stringify({ step, ...details }) + '\n');
}

function describeError(err) {
    const out = { name: err?.constructor?.name ?? typeof err, message: String(err?.message ?? err) };
    if (err instanceof CommitError) {
        out.kind = 'CommitError';
        out.code = err.code;
        out.transactionId = err.transactionId;
    } else if (err instanceof GatewayError) {
        out.kind =
            err instanceof EndorseError
                ? 'EndorseError'
                : err instanceof SubmitError
                  ? 'SubmitError'
                  : err instanceof CommitStatusError
                    ? 'CommitStatusError'
                    : 'GatewayError';
        out.code = err.code;
        out.details = (err.details ?? []).map((d) => ({
            address: d.address,
            mspId: d.mspId,
            message: d.message,
        }));
        if (err.transactionId !== undefined) out.transactionId = err.transactionId;
    } else if (err && typeof err.code === 'number') {
        out.code = err.code;
    }
    return out;
}

async function step(name, fn) {
    try {
        const details = await fn();
        emit(name, { ok: true, ...details });
    } catch (err) {
        emit(name, { ok: false, error: describeError(err) });
    }
}

function json(bytes) {
    return JSON.parse(utf8Decoder.decode(bytes));
}

function arg(obj) {
    return JSON.stringify(obj);
}

function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// The first event of `txId` from a chaincode event stream, with its block number.
async function eventOf(events, txId) {
    for await (const event of events) {
        if (event.transactionId === txId) {
            return {
                chaincodeName: event.chaincodeName,
                eventName: event.eventName,
                transactionId: event.transactionId,
                blockNumber: Number(event.blockNumber),
                payload: utf8Decoder.decode(event.payload),
            };
        }
    }
    throw new Error(`event stream ended without an event of ${txId}`);
}

// Put key=value and wait until every endorsing org's peer has committed it.
// submitTransaction waits for the commit on the gateway's own peer only; a
// ReadModifyWrite endorsed before another org's peer caught up would read a
// different version there and fail endorsement (payloads do not match), in Fabric too.
async function putEverywhere(contract, key, value, endorsers) {
    await contract.submitTransaction('Put', arg({ key, value }));
    const deadline = Date.now() + 30000;
    for (const mspId of endorsers) {
        for (;;) {
            const seen = json(
                await contract.evaluate('Get', {
                    arguments: [arg({ key })],
                    endorsingOrganizations: [mspId],
                }),
            );
            if (seen.value === value) break;
            if (Date.now() > deadline) throw new Error(`${mspId} never saw ${key}=${value}`);
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
    }
}

// Two ReadModifyWrite of one key, endorsed before either commits, so both read the
// same version: whichever the orderer puts second in the block fails validation.
// Retried with a fresh key if the orderer happened to cut two blocks.
async function mvccPair(contract, prefix, attempt, endorsers) {
    const key = `${prefix}-mvcc-${attempt}`;
    await putEverywhere(contract, key, 'v0', endorsers);
    const [a, b] = await Promise.all([
        contract.submitAsync('ReadModifyWrite', { arguments: [arg({ key, value: 'a' })] }),
        contract.submitAsync('ReadModifyWrite', { arguments: [arg({ key, value: 'b' })] }),
    ]);
    const statuses = await Promise.all([a.getStatus(), b.getStatus()]);
    return { key, results: [a.getResult(), b.getResult()].map(json), statuses };
}

async function main() {
    const cfg = JSON.parse(fs.readFileSync(0, 'utf8'));
    const tlsRootCert = fs.readFileSync(cfg.tlsRootCert);
    const tlsCredentials = grpc.credentials.createSsl(
        tlsRootCert,
        fs.readFileSync(cfg.tlsClientKey),
        fs.readFileSync(cfg.tlsClientCert),
    );
    const client = new grpc.Client(cfg.endpoint, tlsCredentials, {
        'grpc.ssl_target_name_override': cfg.hostOverride,
    });
    const privateKey = crypto.createPrivateKey(fs.readFileSync(cfg.key));
    const gateway = connect({
        client,
        identity: { mspId: cfg.mspId, credentials: fs.readFileSync(cfg.cert) },
        signer: signers.newPrivateKeySigner(privateKey),
        hash: hash.sha256,
        evaluateOptions: () => ({ deadline: Date.now() + 5000 }),
        endorseOptions: () => ({ deadline: Date.now() + 15000 }),
        submitOptions: () => ({ deadline: Date.now() + 5000 }),
        commitStatusOptions: () => ({ deadline: Date.now() + 60000 }),
    });

    try {
        const network = gateway.getNetwork(cfg.channel);
        const contract = network.getContract(cfg.chaincode);
        const p = cfg.prefix;

        await step('evaluate_missing', async () => ({
            result: json(await contract.evaluateTransaction('Get', arg({ key: `${p}-absent` }))),
        }));

        await step('submit', async () => ({
            result: json(
                await contract.submitTransaction('Put', arg({ key: `${p}-k1`, value: 'hello' })),
            ),
        }));

        await step('evaluate', async () => ({
            result: json(await contract.evaluateTransaction('Get', arg({ key: `${p}-k1` }))),
        }));

        // The step-by-step path with a transient map is left out (bench takes none); this
        // is the one Fabric's samples show: proposal → endorse → submit → status.
        await step('submit_async', async () => {
            const commit = await contract.submitAsync('Put', {
                arguments: [arg({ key: `${p}-k2`, value: 'world' })],
            });
            const status = await commit.getStatus();
            return {
                result: json(commit.getResult()),
                transactionId: commit.getTransactionId(),
                status: {
                    code: status.code,
                    successful: status.successful,
                    blockNumber: Number(status.blockNumber),
                    transactionId: status.transactionId,
                },
            };
        });

        // Chaincode events: listen first, then submit (Fabric's "events" sample) ...
        await step('chaincode_event_live', async () => {
            const events = await network.getChaincodeEvents(cfg.chaincode);
            try {
                const commit = await contract.submitAsync('Put', {
                    arguments: [arg({ key: `${p}-ev1`, value: 'live' })],
                });
                const status = await commit.getStatus();
                const event = await withTimeout(
                    eventOf(events, commit.getTransactionId()),
                    30000,
                    'live chaincode event',
                );
                return {
                    transactionId: commit.getTransactionId(),
                    blockNumber: Number(status.blockNumber),
                    event,
                };
            } finally {
                events.close();
            }
        });

        // ... and replay from a block number after the fact (the "replay" half).
        await step('chaincode_event_replay', async () => {
            const commit = await contract.submitAsync('Put', {
                arguments: [arg({ key: `${p}-ev2`, value: 'replay' })],
            });
            const status = await commit.getStatus();
            const events = await network.getChaincodeEvents(cfg.chaincode, {
                startBlock: status.blockNumber,
            });
            try {
                const event = await withTimeout(
                    eventOf(events, commit.getTransactionId()),
                    30000,
                    'replayed chaincode event',
                );
                return {
                    transactionId: commit.getTransactionId(),
                    blockNumber: Number(status.blockNumber),
                    event,
                };
            } finally {
                events.close();
            }
        });

        // Resuming from a checkpoint: two events in one block, the first checkpointed;
        // a new stream from the checkpoint starts with the second (after_transaction_id).
        await step('chaincode_event_checkpoint', async () => {
            const commits = await Promise.all(
                ['cp1', 'cp2'].map((k) =>
                    contract.submitAsync('Put', { arguments: [arg({ key: `${p}-${k}`, value: k })] }),
                ),
            );
            const statuses = await Promise.all(commits.map((c) => c.getStatus()));
            const txIds = new Set(commits.map((c) => c.getTransactionId()));
            const startBlock = statuses.map((s) => s.blockNumber).reduce((a, b) => (a < b ? a : b));
            const checkpointer = checkpointers.inMemory();
            const firstEvents = await network.getChaincodeEvents(cfg.chaincode, { startBlock });
            let first;
            try {
                for await (const event of firstEvents) {
                    if (txIds.has(event.transactionId)) {
                        first = event;
                        await checkpointer.checkpointChaincodeEvent(event);
                        break;
                    }
                }
            } finally {
                firstEvents.close();
            }
            const resumed = await network.getChaincodeEvents(cfg.chaincode, {
                checkpoint: checkpointer,
                startBlock: 0n,
            });
            let next;
            try {
                next = await withTimeout(
                    (async () => {
                        for await (const event of resumed) return event;
                        throw new Error('resumed event stream ended');
                    })(),
                    30000,
                    'resumed chaincode event',
                );
            } finally {
                resumed.close();
            }
            return {
                transactionIds: [...txIds],
                blockNumbers: statuses.map((s) => Number(s.blockNumber)),
                checkpoint: {
                    blockNumber: Number(checkpointer.getBlockNumber()),
                    transactionId: checkpointer.getTransactionId(),
                },
                first: { transactionId: first.transactionId, blockNumber: Number(first.blockNumber) },
                next: { transactionId: next.transactionId, blockNumber: Number(next.blockNumber) },
            };
        });

        // Block events (protos.Deliver/Deliver and DeliverFiltered, signed by the client).
        await step('block_events', async () => {
            const commit = await contract.submitAsync('Put', {
                arguments: [arg({ key: `${p}-blk`, value: 'block' })],
            });
            const status = await commit.getStatus();
            const txId = commit.getTransactionId();
            const blocks = await network.getBlockEvents({ startBlock: status.blockNumber });
            let block;
            try {
                block = await withTimeout(
                    (async () => {
                        for await (const b of blocks) return b;
                        throw new Error('block stream ended');
                    })(),
                    30000,
                    'block event',
                );
            } finally {
                blocks.close();
            }
            const filtered = await network.getFilteredBlockEvents({ startBlock: status.blockNumber });
            let fblock;
            try {
                fblock = await withTimeout(
                    (async () => {
                        for await (const b of filtered) return b;
                        throw new Error('filtered block stream ended');
                    })(),
                    30000,
                    'filtered block event',
                );
            } finally {
                filtered.close();
            }
            const envelopeTxIds = block
                .getData()
                .getDataList_asU8()
                .map((bytes) => {
                    const env = common.Envelope.deserializeBinary(bytes);
                    const payload = common.Payload.deserializeBinary(env.getPayload_asU8());
                    const ch = common.ChannelHeader.deserializeBinary(
                        payload.getHeader().getChannelHeader_asU8(),
                    );
                    return ch.getTxId();
                });
            const metadata = block.getMetadata().getMetadataList_asU8();
            return {
                transactionId: txId,
                blockNumber: Number(status.blockNumber),
                block: {
                    number: Number(block.getHeader().getNumber()),
                    transactionIds: envelopeTxIds,
                    validationCodes: Array.from(metadata[2] ?? []),
                },
                filtered: {
                    channelId: fblock.getChannelId(),
                    number: Number(fblock.getNumber()),
                    transactions: fblock.getFilteredTransactionsList().map((t) => ({
                        transactionId: t.getTxid(),
                        type: t.getType(),
                        validationCode: t.getTxValidationCode(),
                    })),
                },
            };
        });

        // MVCC conflict through getStatus() of two async submits in one block.
        await step('mvcc_status', async () => {
            let last;
            for (let attempt = 0; attempt < 5; attempt++) {
                last = await mvccPair(contract, p, attempt, cfg.endorsers);
                const blocks = new Set(last.statuses.map((s) => Number(s.blockNumber)));
                if (blocks.size === 1) break;
            }
            return {
                key: last.key,
                results: last.results,
                statuses: last.statuses.map((s) => ({
                    code: s.code,
                    successful: s.successful,
                    blockNumber: Number(s.blockNumber),
                    transactionId: s.transactionId,
                })),
            };
        });

        // ... and as the CommitError submitTransaction throws.
        await step('mvcc_commit_error', async () => {
            let outcome;
            for (let attempt = 0; attempt < 5; attempt++) {
                const key = `${p}-mvcc-submit-${attempt}`;
                await putEverywhere(contract, key, 'v0', cfg.endorsers);
                const settled = await Promise.allSettled([
                    contract.submitTransaction('ReadModifyWrite', arg({ key, value: 'a' })),
                    contract.submitTransaction('ReadModifyWrite', arg({ key, value: 'b' })),
                ]);
                outcome = settled.map((s) =>
                    s.status === 'fulfilled'
                        ? { fulfilled: true, result: json(s.value) }
                        : { fulfilled: false, error: describeError(s.reason) },
                );
                if (outcome.some((o) => !o.fulfilled)) break;
            }
            return { outcome };
        });

        // An unknown function: the endorsement fails as an EndorseError with details.
        await step('endorse_error', async () => {
            await contract.submitTransaction('NoSuchFunction', arg({}));
            return { unexpected: 'submitted' };
        });
    } finally {
        gateway.close();
        client.close();
    }
    emit('done', {});
}

main().catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    process.exit(1);
});
