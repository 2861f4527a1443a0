// connect joins the page to a stream: through the shared worker when the browser has
// one, so every tab shares a single connection, else with a Feed of its own.

import { Feed } from './feed.js';

const WORKER_NAME = 'tickerboard-feed-v2'; // bump when the worker's messages change
const WORKER_SILENT_MS = 10000; // a worker that says nothing this long is broken

/**
 * connect delivers the stream at url to onMessage. It returns {mode, close(), info()}:
 * mode is "shared" or "direct"; info() resolves to the worker's streams (shared only).
 */
export function connect(url, onMessage) {
  if (typeof SharedWorker === 'function') {
    try {
      return connectShared(url, onMessage);
    } catch (err) {
      console.warn('tickerboard: shared worker unavailable, streaming from this tab:', err);
    }
  }
  return connectDirect(url, onMessage);
}

function connectDirect(url, onMessage) {
  const feed = new Feed(url);
  const fn = feed.subscribe(onMessage);
  feed.start();
  return {
    mode: 'direct',
    close() {
      feed.unsubscribe(fn);
      feed.stop();
    },
    info: async () => [
      {
        url: feed.url, tabs: 1, state: feed.state, lastId: feed.board.id, lastMessageAt: feed.lastMessageAt,
        heartbeatMs: feed.heartbeatMs, silenceMs: feed.silenceMs(), silentReopens: feed.silentReopens,
      },
    ],
  };
}

function connectShared(url, onMessage) {
  const worker = new SharedWorker(new URL('./feed-worker.js', import.meta.url), {
    type: 'module',
    name: WORKER_NAME,
  });
  const port = worker.port;
  const pendingInfo = [];
  let fallback = null; // the direct connection, once the worker has failed us
  let heard = false;
  let closed = false;

  const failOver = (why) => {
    if (fallback || closed) return;
    console.warn(`tickerboard: shared worker ${why}; streaming from this tab`);
    port.close();
    fallback = connectDirect(url, onMessage);
    handle.mode = 'direct';
  };
  const silence = setTimeout(() => heard || failOver('is silent'), WORKER_SILENT_MS);
  worker.addEventListener('error', () => failOver('failed to start'));

  port.addEventListener('message', (m) => {
    heard = true;
    if (fallback || closed) return;
    if (m.data?.type === 'info') {
      pendingInfo.shift()?.(m.data.feeds);
      return;
    }
    onMessage(m.data);
  });
  port.start();
  port.postMessage({ type: 'subscribe', url });

  // A page going into the back/forward cache stops listening; it picks up again, with
  // a fresh snapshot from the worker, when it comes back.
  const onHide = () => port.postMessage({ type: 'unsubscribe', linger: true });
  const onShow = (e) => e.persisted && port.postMessage({ type: 'subscribe', url });
  addEventListener('pagehide', onHide);
  addEventListener('pageshow', onShow);

  const handle = {
    mode: 'shared',
    close() {
      closed = true;
      clearTimeout(silence);
      removeEventListener('pagehide', onHide);
      removeEventListener('pageshow', onShow);
      if (fallback) {
        fallback.close();
        return;
      }
      port.postMessage({ type: 'unsubscribe', linger: false });
      port.close();
    },
    info() {
      if (fallback) return fallback.info();
      return new Promise((resolve) => {
        pendingInfo.push(resolve);
        port.postMessage({ type: 'info' });
      });
    },
  };
  return handle;
}
