/** CLOCK_MONOTONIC in seconds: libuv's hrtime reads the same clock as the helper. */
export const now = (): number => Number(process.hrtime.bigint()) / 1e9;
