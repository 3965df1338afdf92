// The gallery's gRPC service without .proto files: grpc-js's generic client/server with JSON messages.
import grpc from '@grpc/grpc-js';

const json = { serialize: (v) => Buffer.from(JSON.stringify(v ?? {})), deserialize: (b) => JSON.parse(b.toString() || '{}') };
const method = (name, responseStream) => ({
  path: `/gallery.Gallery/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
});
export const SERVICE = { Ask: method('Ask', false), Watch: method('Watch', true) };
export const GalleryClient = grpc.makeGenericClientConstructor(SERVICE, 'Gallery');
