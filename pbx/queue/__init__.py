"""Call queues, as Asterisk's app_queue: queues.conf, the queue engine, its edge.

- config.py: queues.conf (queues, static members, [general]) with file:line:col problems
- members.py: a member's interface line and the AstDB form of dynamic members
- strategy.py: who rings first, per strategy (calc_metric)
- announce.py: what a waiting caller hears (position, hold time, periodic)
- engine.py: the sans-I/O queue machine (callers, members, attempts) on the timer heap
- devstate.py: member device state (the hook the device-state registry replaces)
- music.py: what a waiting caller hears between announcements (the MOH hook)
- qlog.py: queue_log lines in Asterisk's format
- service.py: the I/O edge, one per PBX: rings members through the call core, bridges
"""
