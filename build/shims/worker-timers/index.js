// MQTT.js picks worker timers only in a browser's main thread; outside one these are never called,
// and if they were, the global timers are what they stand for (build/shims/README.md).
"use strict";
exports.setInterval = (fn, ms) => globalThis.setInterval(fn, ms);
exports.clearInterval = (id) => globalThis.clearInterval(id);
exports.setTimeout = (fn, ms) => globalThis.setTimeout(fn, ms);
exports.clearTimeout = (id) => globalThis.clearTimeout(id);
