// The runtime's own streams: readable-stream is a copy of them for browsers (build/shims/README.md).
"use strict";
module.exports = require("node:stream");
