// Writes the collection newman runs: Microsoft's SCIM Postman collection without its
// "Get Token" folder (Seatflow's Secret Token comes from `seatflow-api license create`), and
// with its one request that contradicts RFC 7644 pointed at the RFC path.
//
// Deviation from the collection: "Get ServiceProviderConfig" requests `/serviceConfiguration`,
// which no SCIM 2.0 server has to serve (RFC 7644 §4 names `/ServiceProviderConfig`). Seatflow
// keeps the RFC behaviour (that path is 404) and the request is rewritten to
// `/ServiceProviderConfig`, so the collection's own assertions still check the real document.
'use strict';
const fs = require('fs');

const [source, target] = process.argv.slice(2);
const collection = JSON.parse(fs.readFileSync(source, 'utf8'));

const before = collection.item.length;
collection.item = collection.item.filter((item) => item.name !== 'Get Token');
if (collection.item.length !== before - 1) {
  throw new Error('the collection has no "Get Token" folder: has it changed?');
}

let rewritten = 0;
const visit = (items) => {
  for (const item of items) {
    if (item.item) {
      visit(item.item);
      continue;
    }
    const url = item.request && item.request.url;
    if (url && Array.isArray(url.path) && url.path[url.path.length - 1] === 'serviceConfiguration') {
      url.path[url.path.length - 1] = 'ServiceProviderConfig';
      url.raw = url.raw.replace(/serviceConfiguration$/, 'ServiceProviderConfig');
      rewritten += 1;
    }
  }
};
visit(collection.item);
if (rewritten !== 1) {
  throw new Error(`expected one /serviceConfiguration request, found ${rewritten}`);
}
fs.writeFileSync(target, JSON.stringify(collection));
