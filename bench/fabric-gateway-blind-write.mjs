#!/usr/bin/env node
// blind-write driven by the official Fabric Gateway client (@hyperledger/fabric-gateway),
// used as Fabric's samples use it: one submitAsync (Endorse + Submit) and one
// getStatus() (a CommitStatus call) per transaction. Rerun the Fabric comparison of
// issue 8 with it; `scf bench --client node` runs it and adds node CPU/RSS figures.
//
//   node bench/fabric-gateway-blind-write.mjs < config.json
//
// config.json (paths as in DIR/connection.yaml; `scf bench --client node` writes it):
//   {"endpoint": "127.0.0.1:8051", "hostOverride": "peer0.core.scf.example",
//    "tlsRootCert": path, "tlsClientCert": path, "tlsClientKey": path,
//    "mspId": "CoreMSP", "cert": path, "key": path,
//    "channel": "trade", "chaincode": "bench", "prefix": "nbw.run1",
//    "inFlight": 50, "valueSize": 100, "durationS": 65, "warmupS": 5,
//    "txCount": null, "startAtMs": null, "samples": false}
//
// durationS is the whole sending time (warm-up included); txCount instead stops after
// that many sends. startAtMs (wall clock, ms) delays the start so several clients begin
// together. Prints one JSON object: submitted, succeeded, failed by code, throughput
// (VALID commits completed in [start + warmupS, end of sending) per second),
// latency min/p50/p90/p99/max in ms (submit → commit status, successes sent in that
// window), and with "samples": true every [sentWallMs, latencyMs, code].
//
// The packages come from tests/node/node_modules (`make node-deps`); set
// SCF_NODE_PACKAGE to another package.json to resolve them elsewhere.

import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';

const require = createRequire(
    process.env.SCF_NODE_PACKAGE ?? new URL('../tests/node/package.json', import.meta.url),
);
const grpc = require('@grpc/grpc-js');
const { connect, hash, signers, GatewayError } = require('@hyperledger/fabric-gateway');

const STATUS_NAMES = {
    0: 'VALID',
    1: 'NIL_ENVELOPE',
    2: 'BAD_PAYLOAD',
    10: 'ENDORSEMENT_POLICY_FAILURE',
    11: 'MVCC_READ_CONFLICT',
    12: 'PHANTOM_READ_CONFLICT',
    13: 'UNKNOWN_TX_TYPE',
    14: 'TARGET_CHAIN_NOT_FOUND',
    15: 'MARSHAL_TX_ERROR',
    16: 'NIL_TXACTION',
    17: 'EXPIRED_CHAINCODE',
    18: 'CHAINCODE_VERSION_CONFLICT',
    19: 'BAD_HEADER_EXTENSION',
    20: 'BAD_CHANNEL_HEADER',
    21: 'BAD_RESPONSE_PAYLOAD',
    22: 'BAD_RWSET',
    23: 'ILLEGAL_WRITESET',
    24: 'INVALID_WRITESET',
    25: 'INVALID_CHAINCODE',
    254: 'NOT_VALIDATED',
    255: 'INVALID_OTHER_REASON',
};

function nowMs() {
    return performance.timeOrigin + performance.now();
}

function percentile(sorted, q) {
    const rank = Math.ceil((q / 100) * sorted.length);
    return sorted[Math.max(rank, 1) - 1];
}

function errorCode(err) {
    if (err instanceof GatewayError) {
        const names = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED',
            'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED',
            'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL',
            'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
        return `${err.constructor.name}:${names[err.code] ?? err.code}`;
    }
    return err?.constructor?.name ?? 'Error';
}

async function main() {
    const cfg = JSON.parse(fs.readFileSync(0, 'utf8'));
    const inFlight = cfg.inFlight ?? 50;
    const valueSize = cfg.valueSize ?? 100;
    const warmupMs = (cfg.warmupS ?? 5) * 1000;
    const client = new grpc.Client(
        cfg.endpoint,
        grpc.credentials.createSsl(
            fs.readFileSync(cfg.tlsRootCert),
            fs.readFileSync(cfg.tlsClientKey),
            fs.readFileSync(cfg.tlsClientCert),
        ),
        { 'grpc.ssl_target_name_override': cfg.hostOverride },
    );
    const gateway = connect({
        client,
        identity: { mspId: cfg.mspId, credentials: fs.readFileSync(cfg.cert) },
        signer: signers.newPrivateKeySigner(crypto.createPrivateKey(fs.readFileSync(cfg.key))),
        hash: hash.sha256,
        evaluateOptions: () => ({ deadline: Date.now() + 30000 }),
        endorseOptions: () => ({ deadline: Date.now() + 30000 }),
        submitOptions: () => ({ deadline: Date.now() + 30000 }),
        commitStatusOptions: () => ({ deadline: Date.now() + 60000 }),
    });
    const samples = [];
    let firstFailure = null;
    let start;
    let end;
    try {
        const contract = gateway.getNetwork(cfg.channel ?? 'trade').getContract(cfg.chaincode ?? 'bench');
        // Warm the connection before the clock starts.
        await contract.evaluateTransaction('Get', JSON.stringify({ key: `${cfg.prefix}-warm` }));
        if (cfg.startAtMs) {
            const wait = cfg.startAtMs - nowMs();
            if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        }
        start = nowMs();
        const stopAt = cfg.durationS != null ? start + cfg.durationS * 1000 : Infinity;
        let next = 0;
        const limit = cfg.txCount ?? Infinity;
        const pad = 'v'.repeat(valueSize);
        async function slot() {
            for (;;) {
                if (nowMs() >= stopAt || next >= limit) return;
                const seq = next++;
                const key = `${cfg.prefix}.${seq}`;
                const value = `${seq.toString(16)}-${pad}`.slice(0, valueSize);
                const sent = nowMs();
                let code;
                try {
                    const commit = await contract.submitAsync('Put', {
                        arguments: [JSON.stringify({ key, value })],
                    });
                    const status = await commit.getStatus();
                    code = status.successful ? 'VALID' : (STATUS_NAMES[status.code] ?? `CODE_${status.code}`);
                } catch (err) {
                    code = errorCode(err);
                    firstFailure ??= `${key}: ${err?.message ?? err}`;
                }
                samples.push([sent, nowMs() - sent, code]);
            }
        }
        await Promise.all(Array.from({ length: inFlight }, slot));
        end = cfg.durationS != null ? stopAt : nowMs();
    } finally {
        gateway.close();
        client.close();
    }
    const w0 = cfg.txCount != null ? start : start + warmupMs;
    const w1 = end;
    const inside = samples.filter(([sent]) => sent >= w0 && sent < w1);
    const ok = inside.filter(([, , code]) => code === 'VALID');
    const failed = {};
    for (const [, , code] of inside) if (code !== 'VALID') failed[code] = (failed[code] ?? 0) + 1;
    const completed = samples.filter(([s, l, c]) => c === 'VALID' && s + l >= w0 && s + l < w1).length;
    const lat = ok.map(([, l]) => l).sort((a, b) => a - b);
    const round = (x) => Math.round(x * 10) / 10;
    const summary = {
        client: '@hyperledger/fabric-gateway',
        inFlight,
        windowS: round((w1 - w0) / 1000),
        submitted: inside.length,
        succeeded: ok.length,
        failed,
        throughputTxS: round(completed / ((w1 - w0) / 1000)),
        latencyMs: lat.length
            ? {
                  min: round(lat[0]),
                  p50: round(percentile(lat, 50)),
                  p90: round(percentile(lat, 90)),
                  p99: round(percentile(lat, 99)),
                  max: round(lat[lat.length - 1]),
              }
            : null,
        first_failure: firstFailure,
    };
    if (cfg.samples) summary.samples = samples;
    process.stdout.write(JSON.stringify(summary) + '\n');
}

main().catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    process.exit(1);
});
