"""The read path: `reads` is its one door (routers and `fastpath` call it); `keys` names what is cached and
watched; `readcache` keeps answers current; `listener` hears the database's notifications; `waiters` holds
requests until what they read changes."""
