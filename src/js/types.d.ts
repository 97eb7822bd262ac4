export type LiveState = 'connecting' | 'open' | 'reconnecting' | 'paused' | 'closed';
export type LiveErrorKind = 'config' | 'decode' | 'http' | 'auth' | 'network' | 'patch' | 'swap' | 'closed';

/** What `onError` callbacks receive. Tokens and secret query values never appear in it. */
export interface LiveError {
  kind: LiveErrorKind;
  message: string;
  /** HTTP status, for kind 'http'. */
  status?: number;
  /** Event name, for kind 'decode'. */
  event?: string;
  /** Event id, for kind 'decode' when the event had one. */
  id?: string;
  /** Index of the failing op, for kind 'patch'. */
  index?: number;
}

export interface EventMeta<K extends string = string> {
  /** The event's id as the native `lastEventId` reports it: `''` when the stream has set none
   * (or set it empty), and the previous id for an event without an `id:` field. */
  id: string;
  event: K;
}

export interface BackoffOptions {
  /** First delay ceiling in ms (default 500). */
  initialMs?: number;
  /** Largest delay in ms (default 30000). */
  maxMs?: number;
  /** Growth per attempt, >= 1 (default 2). */
  factor?: number;
  /** Full jitter: a uniform delay in [0, ceiling] (default true). */
  jitter?: boolean;
  /** Give up (state 'closed', error kind 'closed') after this many attempts; null = never. */
  maxAttempts?: number | null;
}

export interface LiveSourceOptions {
  /**
   * Called before every (re)connect. With the native transport it is sent as the `tokenParam`
   * query parameter (EventSource cannot send headers); with `transport: 'fetch'`, as
   * `Authorization: Bearer …` (or the query parameter with `tokenInQuery`).
   */
  token?: () => string | Promise<string>;
  /**
   * 'eventsource' (default): the browser's EventSource; a takeover with an id to resume from
   * goes by fetch on the page's own origin, to send `Last-Event-ID`. 'fetch': a streamed fetch
   * parsed in wasm, with real headers (`Authorization`, `Last-Event-ID`) and the status read
   * from the response.
   */
  transport?: 'eventsource' | 'fetch';
  /** Fetch transport: headers for each connect, asked for before every one. */
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  /** Fetch transport: send the token as the `tokenParam` query parameter, not a header. */
  tokenInQuery?: boolean;
  /** Fetch transport: also send the resume id as the `lastEventIdParam` query parameter. */
  resumeInQuery?: boolean;
  /**
   * Fetch transport: a longer line or event is an error and a reconnect (default 1 MiB). While
   * the same event comes back on every reconnect, the backoff grows toward `maxAttempts`.
   */
  maxEventBytes?: number;
  /** Send cookies on cross-origin streams. */
  withCredentials?: boolean;
  backoff?: BackoffOptions;
  /**
   * Reconnect if nothing arrives for this long (default 45000; 0 = off). Armed once the
   * connection has delivered a `heartbeat` event: keep-alive comments are invisible to scripts.
   */
  heartbeatTimeoutMs?: number;
  /** Query parameter carrying the resume id (default 'lastEventId'). */
  lastEventIdParam?: string;
  /** Query parameter carrying the token (default 'access_token'). */
  tokenParam?: string;
  /** Resume from this id on the first connection. */
  lastEventId?: string;
  /** Close while the page is hidden; resume without loss when it shows again. */
  pauseWhenHidden?: boolean;
  /**
   * One server connection for all same-origin tabs that open the same stream (same URL without
   * secrets, transport, credentials mode and shareKey): one tab holds it (Web Locks) and relays
   * every event, state change, error and reset to the others (BroadcastChannel). Where either
   * API is missing (or outside a secure context), each tab connects on its own. Default false.
   */
  share?: boolean;
  /** With share: only sources with the same key share (keep users or tenants apart). */
  shareKey?: string;
}

export type SwapMode = 'outerHTML' | 'innerHTML' | 'beforeend' | 'afterbegin' | 'none';

export interface RefreshOptions {
  /** The fragment URL (fetched with `HX-Request: true`); same-origin unless allowCrossOrigin. */
  url: string;
  /** CSS selector of the element to swap; looked up at each swap. Required unless swap is 'none'. */
  target?: string;
  /** How the fragment replaces the target (default 'outerHTML'). */
  swap?: SwapMode;
  allowCrossOrigin?: boolean;
  /** Called after each swap with the fragment's HTML and the swapped element. */
  onSwap?: (html: string, target: Element | null) => void;
}

export interface PatchOptions<S> {
  /** The state before the first patch (copied; later changes to this object are not seen). */
  initial?: S;
  /** Called after a failed patch or a server reset; returns the full current state. */
  resync?: () => S | Promise<S>;
}

/**
 * State kept by JSON-Patch events, with the Svelte store contract: `subscribe` calls `run` at
 * once with the current state and after every patch, and returns an unsubscribe function.
 * Each patch that changes the state yields a new root object (one that changes nothing, such as
 * `[]` or only `test` ops, notifies with the same root); unchanged subtrees keep their identity.
 */
export class PatchStore<S = any> {
  private constructor();
  subscribe(run: (state: S) => void): Unsubscribe;
  get(): S;
  /**
   * Applies a patch that did not come from the stream (an optimistic local change, say), with
   * the same atomic rules. Throws on failure, leaving the state unchanged.
   */
  apply(patch: string | ReadonlyArray<unknown>): void;
  /** Stops applying patches and frees the store. */
  free(): void;
  [Symbol.dispose](): void;
}

/** Removes the listener it was returned for. Calling it again does nothing. */
export type Unsubscribe = () => void;

/**
 * A live Server-Sent Events source. Declare the payload of each event name to type listeners:
 * `new LiveSource<{ 'item.created': Item }>(url).on('item.created', item => item.name)`.
 */
export class LiveSource<Events extends { [name: string]: any } = { [name: string]: any }> {
  constructor(url: string, options?: LiveSourceOptions);
  /** Calls `callback` with the parsed JSON data of every `event` event. */
  on<K extends keyof Events & string>(event: K, callback: (data: Events[K], meta: EventMeta<K>) => void): Unsubscribe;
  /**
   * Fragment refresh: on each `event`, re-fetch `options.url` and swap it into `options.target`.
   * Bursts are coalesced (one request in flight plus one trailing); a reset re-fetches once.
   */
  refresh(event: keyof Events & string, options: RefreshOptions): Unsubscribe;
  /**
   * JSON-Patch mode: each `event` carries a patch (RFC 6902 objects or compact tuples such as
   * `[["replace", "/counter", 7]]`), applied atomically. A failing patch leaves the state as it
   * was, reports a 'patch' error with the op's index, and calls `resync`.
   */
  patches<K extends keyof Events & string, S = any>(event: K, options?: PatchOptions<S>): PatchStore<S>;
  /** Calls `callback` now with the current state, then on every change. */
  onState(callback: (state: LiveState) => void): Unsubscribe;
  onError(callback: (error: LiveError) => void): Unsubscribe;
  /** The server could not resume without a gap: rebuild state derived from earlier events. */
  onReset(callback: (data: unknown) => void): Unsubscribe;
  /** Closes the stream, cancels every timer and releases every listener. */
  close(): void;
  /** Closes, then frees the wasm memory behind this object. */
  free(): void;
  [Symbol.dispose](): void;
  readonly state: LiveState;
  /** The id the next connection resumes from. */
  readonly lastEventId: string | undefined;
  /**
   * With `share`: 'leader' (this tab holds the connection and relays it), 'follower' (another
   * tab does), or 'off' (each tab on its own: the option is off, the browser cannot share, or
   * the source is closed).
   */
  readonly sharing: 'leader' | 'follower' | 'off';
}
