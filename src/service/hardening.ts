/**
 * Defence in depth against names from the wire: what `node --disable-proto=delete` does, applied
 * by the first module every Vigil entry point loads, so it holds however Node was started (npm
 * start, the image's ENTRYPOINT, a test harness). With the accessor gone, `obj["__proto__"]` is an
 * ordinary key: a receiver that forgets setAttr stores it as data instead of swapping a prototype,
 * and a read of it finds nothing to write through. Vigil's own code never uses `__proto__`.
 */
delete (Object.prototype as { __proto__?: unknown }).__proto__;
