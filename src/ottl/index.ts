/**
 * The OTTL subset Vigil's processors and correlation rules share: conditions and paths are
 * compiled once, at config load, into plain closures (no eval), and every compile error says
 * at which column of the source it lies. See docs/ottl.md for what is supported.
 */
export {
  compileCondition,
  compilePath,
  compileValue,
  ENUMS,
  setOwn,
  type CompiledPath,
  type Predicate,
} from './compiler.ts';
export { CONVERTERS } from './converters.ts';
export { OttlError } from './errors.ts';
export { compileLinearRegex, RE2_HINT, type LinearRegex } from './regex.ts';
export { pathNames, type ContextItem, type Getter, type OttlContext, type Setter } from './paths.ts';
export { compareValues, copyValue, stringLike, type Value } from './values.ts';
export { ottlCondition, ottlPath, ottlTemplate, ottlValue } from './schema.ts';
export { compileTemplate, expandShorthand, type CompiledTemplate } from './template.ts';
