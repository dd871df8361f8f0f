// Keeps the message list at its end while a reply streams, unless the person scrolled up to
// read: then it stays where they are until they scroll back down to the end.

const NEAR_END_PX = 48;

export function createAutoscroll(list) {
  let following = true;
  let lastTop = list.scrollTop;
  let queued = false;
  const distanceToEnd = () => list.scrollHeight - list.scrollTop - list.clientHeight;

  // Growing content never moves scrollTop, and our own scrolling only moves it down: a scroll
  // that moved it up away from the end is the person's.
  list.addEventListener(
    "scroll",
    () => {
      if (distanceToEnd() <= NEAR_END_PX) following = true;
      else if (list.scrollTop < lastTop - 1) following = false;
      lastTop = list.scrollTop;
    },
    { passive: true },
  );

  function toEnd() {
    // Reading scrollHeight lays the page out: once per change would lay out a long
    // conversation once per message.
    list.scrollTop = list.scrollHeight;
    lastTop = list.scrollTop;
  }

  return {
    /** After content changed: to the end, if the person is there. Many changes in one task
     * (a page of messages, a frame of stream) scroll once, at its end, before the next paint. */
    follow() {
      if (queued) return;
      queued = true;
      queueMicrotask(() => {
        queued = false;
        if (following) toEnd();
      });
    },
    /** To the end, and follow from now on (the page opened, the person sent a message). */
    force() {
      following = true;
      toEnd();
    },
    get following() {
      return following;
    },
  };
}
