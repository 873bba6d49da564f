import asyncio

from wire import epochs


def test_the_epoch_is_1_where_no_unit_of_work_ran():
    assert epochs.epoch() == 1


def test_a_task_sees_the_epoch_it_set_and_no_other_tasks():
    async def run(epoch: int, set_: asyncio.Event, other: asyncio.Event) -> int:
        epochs.EPOCH.set(epoch)
        set_.set()
        await other.wait()  # the other task has set its own meanwhile
        return epochs.epoch()

    async def both() -> list[int]:
        first, second = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(run(2, first, second), run(3, second, first))

    assert asyncio.run(both()) == [2, 3]
    assert epochs.epoch() == 1  # and the caller's context is untouched
