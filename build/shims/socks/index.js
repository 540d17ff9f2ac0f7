// MQTT.js uses a SOCKS proxy only when MQTTJS_SOCKS_PROXY is set (crashkeep's config has no proxy):
// the connection then fails with one clear error instead (build/shims/README.md).
"use strict";
const { EventEmitter } = require("node:events");
class SocksClient extends EventEmitter {
  connect() {
    process.nextTick(() => this.emit("error", new Error("SOCKS proxies are not supported by crashkeep's MQTT client (MQTTJS_SOCKS_PROXY is set)")));
  }
}
exports.SocksClient = SocksClient;
