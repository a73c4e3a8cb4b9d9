/** Just enough of a Dockerfile reader to check it statically and to replay its runtime stages without Docker. */

export interface Instruction {
  /** Upper case: FROM, RUN, COPY, ... */
  op: string;
  /** The rest of the line, continuations joined. */
  args: string;
}

export interface Stage {
  name: string;
  base: string;
  instructions: Instruction[];
}

/** The stages in order, each with its instructions (comments dropped, `\` continuations joined). */
export function parseDockerfile(text: string): { args: Instruction[]; stages: Stage[] } {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) pending += line.slice(0, -1) + ' ';
    else {
      logical.push(pending + line);
      pending = '';
    }
  }
  const args: Instruction[] = [];
  const stages: Stage[] = [];
  for (const l of logical) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(l) ?? [];
    const ins = { op: op.toUpperCase(), args: rest.trim() };
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      stages.push({ base: m?.[1] ?? ins.args, name: m?.[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length === 0) args.push(ins);
    else stages.at(-1)!.instructions.push(ins);
  }
  return { args, stages };
}

/** A stage and the stages it is built on (`FROM <stage>`), base first. */
export function stageChain(stages: Stage[], name: string): Stage[] {
  const stage = stages.find((s) => s.name === name);
  if (!stage) throw new Error(`no stage named ${name}`);
  const parent = stages.find((s) => s.name === stage.base);
  return parent ? [...stageChain(stages, parent.name), stage] : [stage];
}

export interface Copy {
  from?: string;
  sources: string[];
  dest: string;
}

/** A COPY instruction's sources and destination (`--from=stage` kept apart). */
export function parseCopy(args: string): Copy {
  const words = args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** The `npm ci ...` command in a RUN instruction's shell line (after any `--mount` flags and setup), up to `&&` or `;`. */
export function npmCiCommand(run: string): string | undefined {
  return /(?:^|[;&|]\s*)(npm ci(?: [^;&|]*)?)/.exec(run)?.[1]?.trim();
}
