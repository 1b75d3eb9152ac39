// Judges AWS SNS messages with AWS's own validator, sns-validator (aws/aws-js-sns-message-validator),
// for gen_provc.py:  node gen_provc.mjs <in.json>  ->  verdicts on stdout.
// in.json: {"pem": "<certificate>", "messages": [<message object>, ...]}. The certificate fetch
// (https.get of SigningCertURL) is answered locally with "pem": no network.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { PassThrough } from "node:stream";

const require = createRequire(import.meta.url);
const https = require("https");
const input = JSON.parse(readFileSync(process.argv[2], "utf8"));

https.get = (url, cb) => {
  const res = new PassThrough();
  res.statusCode = 200;
  const req = new PassThrough();
  setImmediate(() => {
    cb(res);
    res.end(input.pem);
  });
  return req;
};

const MessageValidator = require("sns-validator");
const validator = new MessageValidator();
const verdicts = [];
for (const m of input.messages) {
  verdicts.push(await new Promise((resolve) => validator.validate(m, (err) => resolve(!err))));
}
process.stdout.write(JSON.stringify(verdicts));
