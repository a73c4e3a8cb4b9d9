// Loaded with `node --import`: the packages named in VIGIL_HIDDEN_PACKAGES (comma-separated)
// resolve, for import and require alike, as if an install had left them out (an optional
// dependency whose native build was skipped), while the checkout keeps them for the other tests.
import { registerHooks } from 'node:module';
import process from 'node:process';

const hidden = (process.env.VIGIL_HIDDEN_PACKAGES ?? '').split(',').filter(Boolean);

registerHooks({
  resolve(specifier, context, next) {
    if (hidden.some((name) => specifier === name || specifier.startsWith(`${name}/`))) {
      const err = new Error(`Cannot find package '${specifier}' imported from ${context.parentURL}`);
      Object.assign(err, { code: 'ERR_MODULE_NOT_FOUND' });
      throw err;
    }
    return next(specifier, context);
  },
});
