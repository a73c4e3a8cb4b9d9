import { list, obj, type Infer } from '../../config/schema.ts';
import { ottlCondition } from '../../ottl/index.ts';

export const filterSchema = obj({
  logs: list(ottlCondition('event'), { default: [], doc: 'Events matching any of these conditions are dropped.' }),
  metrics: list(ottlCondition('datapoint'), {
    default: [],
    doc: 'Data points matching any of these conditions are dropped.',
  }),
  traces: list(ottlCondition('span'), { default: [], doc: 'Spans matching any of these conditions are dropped.' }),
});

export type FilterConfig = Infer<typeof filterSchema>;
