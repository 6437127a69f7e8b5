#!/usr/bin/env node
// Fabric's own JavaScript protobuf bindings (@hyperledger/fabric-protos), driven by
// tests/unit/protos to check that our generated Python code speaks the same wire format.
//
// Reads one JSON request on stdin and writes one JSON response on stdout:
//
//   request  = {"schema": [name...], "decode": [{type, b64}...], "encode": [spec...],
//               "services": [export...]}
//   response = {"schema": {name: info}, "decode": [{object, b64}...],
//               "encode": [{object, b64}...], "services": {export: [method...]}}
//
// Names are full protobuf names ("common.Envelope", "orderer.SeekInfo.SeekBehavior").
//
// schema: for a message, the fields as Fabric's generated deserializer reads them
//   ({number, name, reader, type, repeated, map, keyReader, valueReader}) and its
//   oneof groups; for an enum, its name -> number table. Read from the generated code
//   itself, so it is Fabric's published field table, not a copy of ours.
// decode: deserializeBinary(bytes).toObject() plus the message re-serialised by Fabric.
// encode: builds a message from a spec and returns its bytes and toObject(). A spec is
//   {"$msg": type, "fields": {jsName: value}} where jsName is the generated accessor
//   name without "set"/"add" (e.g. "ChannelId", "Extension$") and value is one of
//     number | string | boolean              scalar (int64 as number)
//     {"$b64": "..."}                         bytes
//     {"$bytes_of": spec}                     bytes holding the serialised spec
//     {"$msg": ..., "fields": ...}            nested message
//     {"$map": [[key, value], ...]}           map entries
//     [value, ...]                            repeated field
// services: the gRPC service definitions fabric-protos exports (e.g. "gateway.GatewayService"
//   for require('@hyperledger/fabric-protos').gateway.GatewayService) as
//   [{path, requestStream, responseStream, requestType, responseType}].
//
// Errors go to stderr with a non-zero exit status; nothing is skipped silently.
'use strict';

const fabricProtos = require('@hyperledger/fabric-protos');
require('google-protobuf/google/protobuf/timestamp_pb.js');

// The generated modules export every symbol on the global `proto` namespace.
const root = globalThis.proto;

function resolve(name) {
    let node = root;
    for (const part of name.split('.')) {
        if (node === undefined || node === null) {
            break;
        }
        node = node[part];
    }
    if (node === undefined || node === null) {
        throw new Error(`unknown protobuf type in fabric-protos: ${name}`);
    }
    return node;
}

// Full names of every generated class, for naming nested message types: the generated
// code refers to other modules' classes through local aliases, so the source text alone
// does not say which package a field's type lives in.
const classNames = new Map();
(function walk(node, prefix, depth) {
    if (depth > 8) {
        return;
    }
    for (const [key, child] of Object.entries(node)) {
        if (typeof child === 'function' && child.deserializeBinaryFromReader) {
            // The modules also copy their imports onto the root namespace
            // (goog.object.extend), so keep the most qualified name seen.
            const name = prefix + key;
            const seen = classNames.get(child);
            if (!seen || seen.split('.').length < name.split('.').length) {
                classNames.set(child, name);
            }
            walk(child, `${prefix}${key}.`, depth + 1);
        } else if (child && typeof child === 'object' && !Array.isArray(child)) {
            walk(child, `${prefix}${key}.`, depth + 1);
        }
    }
})(root, '', 0);

function varint(n) {
    const out = [];
    while (n > 0x7f) {
        out.push((n & 0x7f) | 0x80);
        n >>>= 7;
    }
    out.push(n);
    return out;
}

function nestedTypeName(cls, number, field) {
    // Decode an empty length-delimited occurrence of the field; the getter then hands
    // back an instance of the nested class, whose constructor we can name.
    const bytes = new Uint8Array([...varint((number << 3) | 2), 0]);
    const msg = cls.deserializeBinary(bytes);
    const accessor = field.name.replace(/\$$/, '');
    const got = field.repeated ? msg[`get${accessor}List`]()[0] : msg[`get${field.name}`]();
    const name = got && classNames.get(got.constructor);
    if (!name) {
        throw new Error(`cannot name the type of ${classNames.get(cls)}#${number}`);
    }
    return name;
}

function typeOfAnnotation(text) {
    // "/** @type {!proto.orderer.SeekInfo.SeekBehavior} */" -> "orderer.SeekInfo.SeekBehavior"
    const m = /@type \{!?proto\.([\w.]+)\}/.exec(text);
    return m ? m[1] : null;
}

function schemaOf(name) {
    const cls = resolve(name);
    if (typeof cls !== 'function') {
        // Enums are plain objects of NAME -> number.
        return {kind: 'enum', values: cls};
    }
    const src = cls.deserializeBinaryFromReader.toString();
    const body = src.slice(src.indexOf('switch (field)'), src.indexOf('default:'));
    const parts = body.split(/case (\d+):/);
    const fields = [];
    for (let i = 1; i < parts.length; i += 2) {
        const number = Number(parts[i]);
        const code = parts[i + 1];
        const field = {number, repeated: false, map: false};
        const mapMatch = /msg\.get([\w$]+)Map\(\)/.exec(code);
        if (mapMatch) {
            field.name = mapMatch[1];
            field.map = true;
            field.repeated = true;
            const m = /jspb\.Map\.deserializeBinary\(message, reader, jspb\.BinaryReader\.prototype\.(\w+), jspb\.BinaryReader\.prototype\.(\w+)(?:, ([\w.]+)\.deserializeBinaryFromReader)?/.exec(code);
            if (!m) {
                throw new Error(`cannot parse map field ${name}#${number}: ${code}`);
            }
            field.keyReader = m[1];
            field.valueReader = m[2];
            if (m[3] && !m[3].startsWith('proto.')) {
                throw new Error(`cannot name the value type of map ${name}#${number}`);
            }
            field.type = m[3] ? m[3].slice('proto.'.length) : null;
        } else {
            const setter = /msg\.(set|add)([\w$]+)\(/.exec(code);
            if (!setter) {
                throw new Error(`cannot parse field ${name}#${number}: ${code}`);
            }
            field.repeated = setter[1] === 'add';
            field.name = setter[2];
            if (/reader\.readMessage\(/.test(code)) {
                field.reader = 'readMessage';
                field.type = nestedTypeName(cls, number, field);
            } else {
                const r = /reader\.(read\w+)\(\)/.exec(code);
                if (!r) {
                    throw new Error(`cannot parse reader of ${name}#${number}: ${code}`);
                }
                // Packed repeated scalars read with readPackedX; report the scalar reader.
                field.reader = r[1].replace('readPacked', 'read');
                field.type = field.reader === 'readEnum' ? typeOfAnnotation(code) : null;
            }
        }
        fields.push(field);
    }
    return {kind: 'message', fields, oneofs: cls.oneofGroups_ || []};
}

function build(spec) {
    if (!spec || typeof spec.$msg !== 'string') {
        throw new Error(`not a message spec: ${JSON.stringify(spec)}`);
    }
    const Cls = resolve(spec.$msg);
    const msg = new Cls();
    for (const [name, raw] of Object.entries(spec.fields || {})) {
        if (raw && typeof raw === 'object' && Array.isArray(raw.$map)) {
            const map = msg[`get${name}Map`]();
            for (const [k, v] of raw.$map) {
                map.set(k, value(v));
            }
        } else if (Array.isArray(raw)) {
            const setter = msg[`set${name}List`];
            if (typeof setter !== 'function') {
                throw new Error(`${spec.$msg} has no repeated field ${name}`);
            }
            setter.call(msg, raw.map(value));
        } else {
            const setter = msg[`set${name}`];
            if (typeof setter !== 'function') {
                throw new Error(`${spec.$msg} has no field ${name}`);
            }
            setter.call(msg, value(raw));
        }
    }
    return msg;
}

function value(raw) {
    if (raw === null || typeof raw !== 'object') {
        return raw;
    }
    if (typeof raw.$b64 === 'string') {
        return new Uint8Array(Buffer.from(raw.$b64, 'base64'));
    }
    if (raw.$bytes_of) {
        return build(raw.$bytes_of).serializeBinary();
    }
    if (typeof raw.$msg === 'string') {
        return build(raw);
    }
    throw new Error(`cannot interpret value ${JSON.stringify(raw)}`);
}

function servicesOf(exportPath) {
    let node = fabricProtos;
    for (const part of exportPath.split('.')) {
        node = node === undefined ? undefined : node[part];
    }
    if (!node || typeof node !== 'object') {
        throw new Error(`fabric-protos exports no service ${exportPath}`);
    }
    return Object.values(node).map((m) => ({
        path: m.path,
        requestStream: m.requestStream,
        responseStream: m.responseStream,
        requestType: classNames.get(m.requestType) || null,
        responseType: classNames.get(m.responseType) || null,
    }));
}

function b64(bytes) {
    return Buffer.from(bytes).toString('base64');
}

function main(input) {
    const request = JSON.parse(input);
    const response = {schema: {}, decode: [], encode: [], services: {}};
    for (const name of request.schema || []) {
        response.schema[name] = schemaOf(name);
    }
    for (const exportPath of request.services || []) {
        response.services[exportPath] = servicesOf(exportPath);
    }
    for (const item of request.decode || []) {
        const Cls = resolve(item.type);
        const msg = Cls.deserializeBinary(new Uint8Array(Buffer.from(item.b64, 'base64')));
        response.decode.push({object: msg.toObject(), b64: b64(msg.serializeBinary())});
    }
    for (const spec of request.encode || []) {
        const msg = build(spec);
        response.encode.push({object: msg.toObject(), b64: b64(msg.serializeBinary())});
    }
    // Map entries with bytes values keep Uint8Array in toObject(); print those as base64
    // like every other bytes field.
    process.stdout.write(JSON.stringify(response, (key, v) => (v instanceof Uint8Array ? b64(v) : v)));
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
    input += chunk;
});
process.stdin.on('end', () => {
    try {
        main(input);
    } catch (err) {
        process.stderr.write(`protos_roundtrip.js: ${err && err.stack ? err.stack : err}\n`);
        process.exit(1);
    }
});
