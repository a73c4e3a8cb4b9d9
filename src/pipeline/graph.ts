/** What the graph needs of a pipeline: the ids it takes data from and hands data to. */
export interface PipelineEnds {
  receivers: readonly string[];
  exporters: readonly string[];
}

export interface PipelineGraph {
  /**
   * Pipelines in stages, upstream first: stage 0 is fed by receivers only; a pipeline that lists
   * a connector as a receiver sits one stage after the last pipeline feeding that connector.
   * Start goes downstream first (last stage first), so nothing is accepted before it can be
   * delivered; drain goes upstream first, so a connector has taken all it will get before the
   * pipelines it feeds drain.
   */
  stages: string[][];
  /** Pipelines caught in a loop through connectors, which no order can start; empty when none. */
  cyclic: string[];
  /** For each connector id in use, the pipelines that list it as an exporter. */
  feeders: Map<string, string[]>;
}

/** Orders `service.pipelines` through the connectors between them (Collector: `service/internal/graph`). */
export function pipelineGraph(
  pipelines: Readonly<Record<string, PipelineEnds>>,
  connectors: ReadonlySet<string>,
): PipelineGraph {
  const feeders = new Map<string, string[]>();
  for (const [name, p] of Object.entries(pipelines)) {
    for (const id of p.exporters) if (connectors.has(id)) feeders.set(id, [...(feeders.get(id) ?? []), name]);
  }
  const upstream = new Map<string, Set<string>>();
  for (const [name, p] of Object.entries(pipelines)) {
    upstream.set(name, new Set(p.receivers.flatMap((id) => (connectors.has(id) ? (feeders.get(id) ?? []) : []))));
  }
  const stages: string[][] = [];
  const placed = new Set<string>();
  for (;;) {
    const stage = [...upstream]
      .filter(([name, from]) => !placed.has(name) && [...from].every((f) => placed.has(f)))
      .map(([name]) => name);
    if (stage.length === 0) break;
    stages.push(stage);
    for (const name of stage) placed.add(name);
  }
  return { stages, cyclic: [...upstream.keys()].filter((name) => !placed.has(name)), feeders };
}
