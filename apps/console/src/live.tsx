import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { api } from './api/client';
import { openEventStream, type StreamStatus } from './api/event-stream';
import type { WorkloadStateChanged } from './api/types';

type Listener = (event: string, data: unknown) => void;

interface LiveContextValue {
  status: StreamStatus;
  subscribe(listener: Listener): () => void;
}

const LiveContext = createContext<LiveContextValue>({ status: 'stopped', subscribe: () => () => undefined });

/** One event stream for the whole console while logged in; pages subscribe to what they show. */
export function LiveEventsProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<StreamStatus>('connecting');
  const listeners = useRef(new Set<Listener>());
  useEffect(
    () =>
      openEventStream(api, {
        onEvent: (event, data) => {
          for (const listener of listeners.current) listener(event, data);
        },
        onStatus: (next) => setStatus(next),
      }),
    [],
  );
  const subscribe = useCallback((listener: Listener) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);
  const value = useMemo<LiveContextValue>(() => ({ status, subscribe }), [status, subscribe]);
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

export function useLiveStatus(): StreamStatus {
  return useContext(LiveContext).status;
}

/** Calls `onChange` for every workload state change on the stream. */
export function useWorkloadEvents(onChange: (change: WorkloadStateChanged) => void): void {
  const { subscribe } = useContext(LiveContext);
  const latest = useRef(onChange);
  useEffect(() => {
    latest.current = onChange;
  });
  useEffect(
    () =>
      subscribe((event, data) => {
        if (event === 'workload') latest.current(data as WorkloadStateChanged);
      }),
    [subscribe],
  );
}

/** Calls `onChange` for every host event (operators: `evt.host.state.v1`, `{ hostId, from, to, reason, at }`). */
export function useHostEvents(onChange: (change: Record<string, unknown>) => void): void {
  const { subscribe } = useContext(LiveContext);
  const latest = useRef(onChange);
  useEffect(() => {
    latest.current = onChange;
  });
  useEffect(
    () =>
      subscribe((event, data) => {
        if (event === 'host') latest.current(data as Record<string, unknown>);
      }),
    [subscribe],
  );
}
