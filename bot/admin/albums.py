"""Charts to an admin's chat as albums: Telegram takes at most ten photos in one media group."""

from __future__ import annotations

from telegram import InputMediaPhoto

from bot.context import Context

ALBUM = 10  # Telegram's limit of photos in one media group


async def send_album(context: Context, chat_id: int, images: list[tuple[str, bytes]], caption: str | None) -> None:
    """Send (file name, PNG) pairs as albums of up to ten photos, the caption under the first one."""
    for start in range(0, len(images), ALBUM):
        media = [InputMediaPhoto(png, filename=name, caption=caption if start + i == 0 else None)
                 for i, (name, png) in enumerate(images[start : start + ALBUM])]
        if len(media) == 1:
            await context.bot.send_photo(chat_id, media[0].media, caption=caption if start == 0 else None)
        else:
            await context.bot.send_media_group(chat_id, media)
