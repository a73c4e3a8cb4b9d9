// Loaded with `node --import`: the process resolves "chdb" as if the optional package were not
// installed (`npm ci --omit=optional`), while the checkout keeps it for the other tests.
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, next) {
    if (specifier === 'chdb' || specifier.startsWith('chdb/')) {
      const err = new Error(`Cannot find package '${specifier}' imported from ${context.parentURL}`);
      Object.assign(err, { code: 'ERR_MODULE_NOT_FOUND' });
      throw err;
    }
    return next(specifier, context);
  },
});
