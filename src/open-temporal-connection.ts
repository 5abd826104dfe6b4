import { Connection } from '@temporalio/client';

/**
 * gRPC's own reconnect backoff grows to 120 s, so after a long Temporal outage a client could keep
 * failing fast for up to two minutes after the server is back. Capped at one second, every process
 * tries again at least once a second while Temporal is away and is serving within a second of its
 * return; a refused connection attempt costs next to nothing.
 */
const RECONNECT_CHANNEL_ARGS = {
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 1_000,
} as const;

/**
 * The Temporal client connection of an API process or of a worker's client side (snapshot trigger,
 * reconciler). Lazy: a process starts, and answers everything that does not need Temporal, while
 * Temporal is down. Every call is bounded by the caller's deadline (see api/workflow-calls.ts);
 * the connection itself never gives up.
 */
export function openTemporalConnection(address: string): Connection {
  return Connection.lazy({ address, channelArgs: RECONNECT_CHANNEL_ARGS });
}
