/** The two ends of the wire, client and server: the model's word, shared by every layer. */
export type { Side } from '../model/types.js';

/** Who a helper process speaks for: one of the two ends, or the router on the path between them (a middlebox). */
export type HelperRole = import('../model/types.js').Side | 'router';
