/** The two ends of the wire, client and server: the model's word, shared by every layer. */
export type { Side } from '../model/types.js';
