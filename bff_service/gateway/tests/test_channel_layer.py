"""Pushes stay inside the system whose Redis database carried them (a real Redis)."""

import asyncio

from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from redis.connection import parse_url

from config.settings import channel_prefix


def layer(db: int) -> RedisPubSubChannelLayer:
    """A channel layer on the test Redis server, in database ``db``."""
    server = parse_url(settings.REDIS_URL)
    url = f"redis://{server.get('host', '127.0.0.1')}:{server.get('port', 6379)}/{db}"
    return RedisPubSubChannelLayer(hosts=[url], prefix=channel_prefix(url))


def test_systems_sharing_a_redis_server_in_other_databases_get_none_of_each_others_pushes():
    db = parse_url(settings.REDIS_URL).get("db", 0)  # and the next one: publish only, no keys

    async def run():
        sender, same_system, other_system = layer(db), layer(db), layer(db + 1)
        try:
            ours = await same_system.new_channel()
            theirs = await other_system.new_channel()
            await same_system.group_add("orders", ours)
            await other_system.group_add("orders", theirs)
            await sender.group_send("orders", {"type": "push.batch", "frame": "[]"})
            assert (await asyncio.wait_for(same_system.receive(ours), 5))["frame"] == "[]"
            # the same publish would have reached the other system by now
            try:
                leaked = await asyncio.wait_for(other_system.receive(theirs), 0.3)
            except TimeoutError:
                leaked = None
            assert leaked is None
        finally:
            for each in (sender, same_system, other_system):
                await each.flush()

    asyncio.run(run())
