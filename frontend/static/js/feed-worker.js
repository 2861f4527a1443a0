// The shared worker: one EventSource per stream URL, whatever the number of tabs.
// Browsers allow about six HTTP/1.1 connections per origin, so a stream per tab would
// stall the seventh tab; here every tab with the same filters shares one stream.
//
// Tab → worker: {type: 'subscribe', url} | {type: 'unsubscribe', linger} | {type: 'info'}
// Worker → tab: the Feed's messages (see feed.js), with events gathered into
// {type: 'events', events: [...]}, and {type: 'info', feeds} answers.

import { Feed } from './feed.js';

const LINGER_MS = 5000; // keep a stream whose last tab is reloading, so it resumes at once

const feeds = new Map(); // url → {feed, ports: Set, timer}

self.addEventListener('connect', (e) => {
  const port = e.ports[0];
  let current = null; // {entry, fn}

  // leave drops this tab's subscription. The stream ends with its last tab; with
  // linger, only if no tab takes it up again within LINGER_MS (a reload does).
  const leave = (linger) => {
    if (!current) return;
    const { entry, fn } = current;
    current = null;
    entry.feed.unsubscribe(fn);
    entry.ports.delete(port);
    if (entry.ports.size > 0) return;
    const end = () => {
      if (entry.ports.size > 0 || feeds.get(entry.feed.url) !== entry) return;
      entry.feed.stop();
      feeds.delete(entry.feed.url);
    };
    clearTimeout(entry.timer);
    if (linger) entry.timer = setTimeout(end, LINGER_MS);
    else end();
  };

  port.addEventListener('message', (m) => {
    const msg = m.data ?? {};
    switch (msg.type) {
      case 'subscribe': {
        leave(false);
        let entry = feeds.get(msg.url);
        if (!entry) {
          entry = { feed: new Feed(msg.url), ports: new Set(), timer: 0 };
          feeds.set(msg.url, entry);
          entry.feed.start();
        }
        clearTimeout(entry.timer);
        entry.feed.wake();
        entry.ports.add(port);
        const fn = entry.feed.subscribe(batcher(port));
        current = { entry, fn };
        break;
      }
      case 'unsubscribe':
        leave(Boolean(msg.linger));
        break;
      case 'info':
        port.postMessage({ type: 'info', feeds: info() });
        break;
    }
  });
  // Chromium fires close when the tab's end of the port goes away (tab closed, crashed).
  port.addEventListener('close', () => leave(true));
  port.start();
});

// batcher posts a feed's messages to port, gathering the events that arrive together
// (the server writes them in bursts) into one {type: 'events', events} message: one
// task for the tab per burst rather than per event. Order is kept: anything else
// flushes the gathered events first.
function batcher(port) {
  let batch = [];
  let timer = 0;
  const flush = () => {
    clearTimeout(timer);
    timer = 0;
    if (batch.length) port.postMessage({ type: 'events', events: batch });
    batch = [];
  };
  return (msg) => {
    if (msg.type !== 'event') {
      flush();
      port.postMessage(msg);
      return;
    }
    const { value, ...text } = msg; // JSON text clones cheaper than the parsed value
    batch.push(text);
    if (!timer) timer = setTimeout(flush, 0);
  };
}

function info() {
  return [...feeds.values()].map(({ feed, ports }) => ({
    url: feed.url,
    tabs: ports.size,
    state: feed.state,
    lastId: feed.board.id,
    lastMessageAt: feed.lastMessageAt, // Date.now() of the last event or heartbeat
    heartbeatMs: feed.heartbeatMs, // the server's heartbeat interval, as measured
    silenceMs: feed.silenceMs(), // how long a silent stream is kept before a new one
    silentReopens: feed.silentReopens,
  }));
}
