"""The sandbox's world: one host account, its apartments, bookings, chats and daily stats.

Everything is drawn from one ``random.Random(seed)`` relative to a fixed ``today``, so the same seed and the
same day give the same world, byte for byte. Records are kept in the shapes Avito's OpenAPI specs return
(bookings and messages as plain dicts ready to serialise), so the request layer only filters and pages.

Ids follow the real sizes: the user id fits int32, listing ids exceed 2^31, and a few booking ids exceed
2^53 (a client that routes them through a float silently corrupts them).
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ..dates import avito_today

__all__ = ["Account", "BookingIds", "Chat", "Item", "World", "booking_dates", "chat_user", "draw_guest_user",
           "generate_world", "make_booking", "message_content", "new_message_id"]

# The first integer a float (IEEE double) cannot represent: booking ids from here on must stay ints.
BIG_BOOKING_ID_BASE = 9_007_199_254_740_993
HISTORY_DAYS = 365  # bookings span a year before and a year after today
STATS_DAYS = 270  # itemStatsShallow: "глубина такого запроса ограничена 270 днями"
# When bookings were made, for the world's replay over time (``World.bookings_as_of``): a fifth are last-minute
# (0-2 days ahead), the rest some weeks ahead (an exponential lead, as short-term rentals see), and an unpaid
# request is a few days old.
LAST_MINUTE_SHARE = 0.2
LEAD_MEAN_DAYS = 24
LEAD_MAX_DAYS = 300
PENDING_AGE_MEAN_DAYS = 4

# (city, URL slug, latitude, longitude, streets)
CITIES: tuple[tuple[str, str, float, float, tuple[str, ...]], ...] = (
    ("Москва", "moskva", 55.7558, 37.6173,
     ("ул. Тверская", "Ленинский пр-т", "ул. Арбат", "Пресненская наб.", "ул. Бауманская")),
    ("Санкт-Петербург", "sankt-peterburg", 59.9343, 30.3351,
     ("Невский пр-т", "ул. Рубинштейна", "наб. реки Фонтанки", "Лиговский пр-т")),
    ("Казань", "kazan", 55.7963, 49.1088, ("ул. Баумана", "ул. Пушкина", "ул. Чистопольская")),
    ("Сочи", "sochi", 43.5855, 39.7231, ("ул. Навагинская", "Курортный пр-т", "ул. Войкова")),
    ("Калининград", "kaliningrad", 54.7104, 20.4522, ("Ленинский пр-т", "ул. Театральная", "ул. Багратиона")),
    ("Екатеринбург", "ekaterinburg", 56.8389, 60.6057, ("ул. Малышева", "ул. Вайнера", "ул. Ленина")),
    ("Нижний Новгород", "nizhniy_novgorod", 56.2965, 43.9361,
     ("ул. Большая Покровская", "Верхне-Волжская наб.", "ул. Рождественская")),
)
# (Cyrillic first name, Latin handle, last name) -- last names in the form matching the first name.
GUEST_NAMES: tuple[tuple[str, str, str], ...] = (
    ("Анна", "anna", "Ковалёва"), ("Дмитрий", "dmitry", "Смирнов"), ("Екатерина", "ekaterina", "Орлова"),
    ("Сергей", "sergey", "Волков"), ("Мария", "maria", "Лебедева"), ("Алексей", "alexey", "Морозов"),
    ("Ольга", "olga", "Новикова"), ("Иван", "ivan", "Фёдоров"), ("Наталья", "natalia", "Павлова"),
    ("Павел", "pavel", "Соколов"), ("Юлия", "yulia", "Егорова"), ("Максим", "maxim", "Козлов"),
    ("Татьяна", "tatiana", "Попова"), ("Артём", "artem", "Васильев"), ("Елена", "elena", "Зайцева"),
    ("Никита", "nikita", "Белов"), ("Светлана", "svetlana", "Михайлова"), ("Андрей", "andrey", "Николаев"),
)
GUEST_QUESTIONS = (
    "Здравствуйте! Квартира свободна на эти даты?",
    "Добрый день, можно заселиться раньше 14:00?",
    "Есть ли парковка рядом с домом?",
    "Можно ли с собакой небольшого размера?",
    "Сколько будет стоить на троих взрослых?",
    "Подскажите, как добраться от вокзала?",
    "Есть ли стиральная машина и утюг?",
    "Можно оплатить при заселении?",
    "А wi-fi быстрый? Нужно работать удалённо.",
    "Мы задержимся, будем около 23:00, это нормально?",
    "Где взять ключи?",
    "Есть ли детская кроватка?",
    "Спасибо, всё понравилось! Обязательно вернёмся.",
    "Можно продлить проживание ещё на одну ночь?",
)
HOST_ANSWERS = (
    "Здравствуйте! Да, даты свободны, бронируйте через Авито.",
    "Ранний заезд возможен с 12:00, если накануне не будет выезда.",
    "Парковка во дворе, бесплатно.",
    "С небольшими животными можно, по договорённости.",
    "Заселение бесконтактное, код от сейфа с ключами пришлю в день заезда.",
    "Да, стиральная машина и утюг есть.",
    "Wi-Fi 100 Мбит/с, есть удобное рабочее место.",
    "Спасибо за отзыв, будем рады видеть вас снова!",
    "Конечно, напишите, когда будете подъезжать.",
    "Детская кроватка есть, поставим заранее.",
    "Стоимость указана за всю квартиру, до четырёх гостей без доплаты.",
)
SYSTEM_TEXTS = (
    "Бронирование подтверждено",
    "Гость отменил бронирование",
    "Предоплата получена",
    "Новый запрос на бронирование",
)
# status_id of the chat context, as in the spec's example "20 — объявление удалено"
CONTEXT_STATUS_IDS = {"active": 0, "removed": 20, "old": 30, "blocked": 40, "rejected": 50}
MESSAGE_TYPE_WEIGHTS = (("text", 80), ("image", 6), ("system", 5), ("location", 3), ("call", 3), ("deleted", 3))


@dataclass(slots=True)
class Account:
    """The sandbox's one host account (``GET /core/v1/accounts/self``)."""

    id: int
    name: str
    email: str
    phone: str
    profile_url: str

    def to_json(self) -> dict[str, Any]:
        """The ``UserInfoSelf`` body."""
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "phones": [self.phone],
            "profile_url": self.profile_url,
        }


@dataclass(slots=True)
class Item:
    """One apartment listing; ``resource()`` and ``info()`` give the two spec shapes."""

    id: int
    title: str
    address: str
    city: str
    latitude: float
    longitude: float
    price: int | None
    nightly_price: int
    status: str
    url: str | None
    start_time: datetime
    finish_time: datetime | None
    autoload_item_id: str | None
    vas: list[dict[str, Any]] | None
    images_count: int

    def resource(self) -> dict[str, Any]:
        """An element of ``GET /core/v1/items`` ``resources``."""
        return {
            "id": self.id,
            "title": self.title,
            "address": self.address,
            "category": {"id": 24, "name": "Квартиры"},
            "price": self.price,
            "status": self.status,
            "url": self.url,
        }

    def info(self) -> dict[str, Any]:
        """The body of ``GET /core/v1/accounts/{user_id}/items/{item_id}/``."""
        return {
            "autoload_item_id": self.autoload_item_id,
            "finish_time": self.finish_time.isoformat() if self.finish_time else None,
            "start_time": self.start_time.isoformat(),
            "status": self.status,
            "url": self.url,
            "vas": self.vas,
        }

    def as_of(self, moment: datetime) -> Item:
        """The listing as it stood at ``moment``: one closed later was still active then."""
        if self.finish_time is None or self.finish_time <= moment:
            return self
        return dataclasses.replace(self, status="active", finish_time=None)

    def image_url(self, size: str = "140x105") -> str:
        return f"https://00.img.avito.st/image/1/{self.id}/{size}.jpg"

    def context(self, user_id: int) -> dict[str, Any]:
        """The ``context`` of a u2i chat about this listing."""
        return {
            "type": "item",
            "value": {
                "id": self.id,
                "title": self.title,
                "url": self.url or f"https://www.avito.ru/{self.id}",
                "price_string": f"{self.price:,} ₽ за сутки".replace(",", " ") if self.price else "Цена не указана",
                "status_id": CONTEXT_STATUS_IDS.get(self.status, 0),
                "user_id": user_id,
                "images": {"count": self.images_count, "main": {"140x105": self.image_url()}},
            },
        }


@dataclass(slots=True)
class Chat:
    """One messenger chat; ``messages`` are kept oldest first, as spec-shaped dicts."""

    id: str
    type: str  # "u2i" or "u2u"
    created: int
    item_id: int | None
    context: dict[str, Any] | None
    users: list[dict[str, Any]]
    guest_id: int
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def updated(self) -> int:
        return self.messages[-1]["created"] if self.messages else self.created

    @property
    def unread(self) -> bool:
        return any(m["direction"] == "in" and not m["is_read"] for m in reversed(self.messages))

    def as_of(self, moment: int) -> Chat | None:
        """The chat as it stood at ``moment`` (unix seconds): its messages until then; None before it began."""
        if self.created > moment:
            return None
        if not self.messages or self.messages[-1]["created"] <= moment:
            return self
        shown = bisect.bisect_right(self.messages, moment, key=lambda message: message["created"])
        return dataclasses.replace(self, messages=self.messages[:shown])

    def last_message(self) -> dict[str, Any] | None:
        if not self.messages:
            return None
        last = self.messages[-1]
        return {key: last[key] for key in ("id", "author_id", "content", "created", "direction", "type")}

    def to_json(self) -> dict[str, Any]:
        """The chat object of ``GET /messenger/v2/accounts/{user_id}/chats``."""
        body: dict[str, Any] = {"id": self.id, "created": self.created, "updated": self.updated,
                                "users": self.users}
        if self.context is not None:  # u2u chats are about no listing
            body["context"] = self.context
        last = self.last_message()
        if last is not None:
            body["last_message"] = last
        return body


@dataclass
class World:
    """The generated data; the sandbox mutates it in place as requests and test helpers change it."""

    seed: int
    today: date
    anchor: int  # unix seconds of the world's "now" (today 09:00 UTC); generated history ends here
    account: Account
    host_user: dict[str, Any]  # the host as a chat participant
    items: list[Item]
    bookings: dict[int, list[dict[str, Any]]]  # item id -> spec-shaped bookings, by check_in
    chats: dict[str, Chat]
    items_by_id: dict[int, Item] = field(init=False, repr=False)
    _stats_cache: dict[int, dict[date, dict[str, int]]] = field(default_factory=dict, repr=False)
    _made_on: dict[int, tuple[int, int | None]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.items_by_id = {item.id: item for item in self.items}

    def moment(self, day: date) -> int:
        """Unix seconds of the world's "now" on ``day`` (09:00 UTC, as ``anchor`` is on ``today``)."""
        return self.anchor - (self.today - day).days * 86400

    def bookings_as_of(self, item_id: int, day: date) -> list[dict[str, Any]]:
        """The item's bookings that existed on ``day``, each with its status of that day (one canceled later
        was still active); all of them, as they are, from ``today`` on. When each was made: ``booking_dates``."""
        bookings = self.bookings.get(item_id, [])
        if day >= self.today:
            return bookings
        ordinal, made_on = day.toordinal(), self._made_on
        shown = []
        for booking in bookings:
            booking_id = booking["avito_booking_id"]
            dates = made_on.get(booking_id)
            if dates is None:
                dates = made_on[booking_id] = booking_dates(self.seed, booking, self.today)
            made, canceled = dates
            if made > ordinal:
                continue
            if canceled is not None and canceled > ordinal:
                booking = {**booking, "status": "active"}
            shown.append(booking)
        return shown

    def daily_stats(self, item_id: int) -> dict[date, dict[str, int]]:
        """Daily unique views/contacts/favorites of the last 270 days; days without activity are absent.

        Drawn lazily from a per-item generator (still a pure function of seed, today and item id) so that
        a world of a thousand listings does not pay for 270 000 stat rows it may never serve.
        """
        cached = self._stats_cache.get(item_id)
        if cached is None:
            cached = self._stats_cache[item_id] = _draw_stats(self, self.items_by_id[item_id])
        return cached


def generate_world(
    seed: int = 0,
    today: date | None = None,
    n_items: int = 12,
    n_chats: int = 150,
    messages_per_chat: int | None = None,
) -> World:
    """Draw a deterministic world: ``n_items`` apartments, a year of bookings each side of ``today``,
    ``n_chats`` chats of ``messages_per_chat`` messages (1-40 at random when None) and daily stats."""
    today = today or avito_today()
    rng = random.Random(seed)
    anchor = int(datetime.combine(today, time(9, 0), tzinfo=UTC).timestamp())
    account = _draw_account(rng)
    items = _draw_items(rng, n_items, today)
    bookings = _draw_bookings(rng, items, today)
    host_user = chat_user(account.id, account.name, rng.getrandbits(48))
    chats = _draw_chats(rng, account, host_user, items, n_chats, messages_per_chat, anchor)
    return World(seed=seed, today=today, anchor=anchor, account=account, host_user=host_user, items=items,
                 bookings=bookings, chats=chats)


def _draw_account(rng: random.Random) -> Account:
    user_id = rng.randrange(90_000_000, 99_999_999)
    return Account(
        id=user_id,
        name="Ирина Соколова",
        email="irina.sokolova@example.ru",
        phone=f"79{rng.randrange(10**9):09d}",
        profile_url=f"https://www.avito.ru/user/{rng.getrandbits(64):016x}/profile",
    )


def _draw_items(rng: random.Random, n_items: int, today: date) -> list[Item]:
    statuses = ["active"] * n_items
    if n_items >= 4:
        # "mostly active plus a couple removed/old/blocked", in seeded positions
        odd = [("removed", "old", "blocked")[i % 3] for i in range(max(3, n_items // 8))]
        for position, status in zip(rng.sample(range(n_items), len(odd)), odd, strict=True):
            statuses[position] = status
    ids: set[int] = set()
    items = []
    for status in statuses:
        item_id = rng.randrange(3_000_000_000, 9_999_999_999)  # ten digits, above 2^31
        while item_id in ids:
            item_id = rng.randrange(3_000_000_000, 9_999_999_999)
        ids.add(item_id)
        city, slug, lat, lon, streets = rng.choice(CITIES)
        rooms = rng.choices((0, 1, 2, 3, 4), weights=(15, 40, 30, 12, 3))[0]
        area = 22 + rooms * 16 + rng.randrange(12)
        floors = rng.choice((5, 9, 12, 16, 17, 25))
        floor = rng.randint(1, floors)
        kind = "Квартира-студия" if rooms == 0 else f"{rooms}-к. квартира"
        title = f"{kind}, {area} м², {floor}/{floors} эт."
        nightly = (1500 + rooms * 900 + rng.randrange(0, 2500)) // 100 * 100
        started = datetime.combine(today - timedelta(days=rng.randint(30, 900)), time(rng.randint(8, 22)),
                                   tzinfo=UTC)
        url_kind = "kvartira-studiya" if rooms == 0 else f"{rooms}-k._kvartira"
        url: str | None = f"https://www.avito.ru/{slug}/kvartiry/{url_kind}_{area}m_{floor}{floors}et._{item_id}"
        if status != "active" and rng.random() < 0.5:
            url = None
        vas = None
        if status == "active" and rng.random() < 0.3:
            vas_finish = datetime.combine(today + timedelta(days=rng.randint(1, 7)), time(12), tzinfo=UTC)
            vas = [{"vas_id": rng.choice(("highlight", "pushup", "xl")), "finish_time": vas_finish.isoformat(),
                    "schedule": None}]
        items.append(Item(
            id=item_id,
            title=title,
            address=f"{city}, {rng.choice(streets)}, {rng.randint(1, 120)}",
            city=city,
            latitude=round(lat + rng.uniform(-0.05, 0.05), 6),
            longitude=round(lon + rng.uniform(-0.05, 0.05), 6),
            price=None if rng.random() < 0.1 else nightly,
            nightly_price=nightly,
            status=status,
            url=url,
            start_time=started,
            finish_time=None if status == "active" else min(started + timedelta(days=rng.randint(30, 400)),
                                                            datetime.combine(today, time(0), tzinfo=UTC)),
            autoload_item_id=f"ak-{rng.randrange(10**6):06d}" if rng.random() < 0.3 else None,
            vas=vas,
            images_count=rng.randint(3, 25),
        ))
    return items


class BookingIds:
    """Unique booking ids: mostly ordinary ints, one in twenty above 2^53."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._next_small = rng.randrange(1_000_000_000, 2_000_000_000)
        self._next_big = 0

    def next(self) -> int:
        roll = self._rng.random()
        if roll < 0.05:
            self._next_big += 2  # odd numbers above 2^53: none of them survives a float
            return BIG_BOOKING_ID_BASE + self._next_big - 2
        self._next_small += 1 + int(roll * 97)
        return self._next_small


def make_booking(
    booking_id: int,
    check_in: date,
    check_out: date,
    *,
    status: str,
    base_price: int,
    guest_count: int,
    guest: tuple[str, str, str],
    phone: str,
) -> dict[str, Any]:
    """One booking in the ``getRealtyBookings`` shape; ``base_price`` is the whole stay."""
    first, handle, last = guest
    prepaid = base_price * 3 // 10
    tax = prepaid // 10
    return {
        "avito_booking_id": booking_id,
        "base_price": base_price,
        "check_in": check_in.isoformat(),
        "check_out": check_out.isoformat(),
        "contact": {"name": f"{first} {last}", "email": f"{handle}.{booking_id % 10_000}@example.ru",
                    "phone": phone},
        "guest_count": guest_count,
        "nights": (check_out - check_in).days,
        "safe_deposit": {"owner_amount": prepaid - tax, "tax": tax, "total_amount": prepaid},
        "status": status,
    }


def _draw_bookings(rng: random.Random, items: list[Item], today: date) -> dict[int, list[dict[str, Any]]]:
    # The hot loop of a large world (70 000 bookings for 1000 listings): draws use rng.random() and a
    # weighted lookup table, and dates stay ordinals with memoised ISO strings, to stay well under a second.
    ids = BookingIds(rng)
    draw = rng.random
    nights_table = [n for n, weight in ((1, 10), (2, 18), (3, 18), (4, 14), (5, 10), (6, 8), (7, 10), (10, 6),
                                        (14, 6)) for _ in range(weight)]
    iso: dict[int, str] = {}
    today_ordinal = today.toordinal()
    horizon = today_ordinal + HISTORY_DAYS
    result: dict[int, list[dict[str, Any]]] = {}
    for item in items:
        bookings = result[item.id] = []
        end = horizon if item.status == "active" else today_ordinal  # inactive listings take no new guests
        day = today_ordinal - HISTORY_DAYS + int(draw() * 11)
        while True:
            nights = nights_table[int(draw() * len(nights_table))]
            check_out = day + nights
            if check_out > end:
                break
            roll = draw()
            if roll < 0.1:
                status = "canceled"
            elif roll < 0.18 and day >= today_ordinal:
                status = "pending"  # unpaid requests only exist ahead of today
            else:
                status = "active"
            first, handle, last = GUEST_NAMES[int(draw() * len(GUEST_NAMES))]
            booking_id = ids.next()
            base_price = item.nightly_price * nights
            prepaid = base_price * 3 // 10
            tax = prepaid // 10
            check_in_iso = iso.get(day) or iso.setdefault(day, date.fromordinal(day).isoformat())
            check_out_iso = iso.get(check_out) or iso.setdefault(check_out, date.fromordinal(check_out).isoformat())
            bookings.append({
                "avito_booking_id": booking_id,
                "base_price": base_price,
                "check_in": check_in_iso,
                "check_out": check_out_iso,
                "contact": {"name": f"{first} {last}", "email": f"{handle}.{booking_id % 10_000}@example.ru",
                            "phone": f"9{int(draw() * 10**9):09d}"},
                "guest_count": 1 + int(draw() * 5),
                "nights": nights,
                "safe_deposit": {"owner_amount": prepaid - tax, "tax": tax, "total_amount": prepaid},
                "status": status,
            })
            # further ahead the calendar is emptier, as it is for a real host
            gap_max = 4 if check_out < today_ordinal else 4 + (check_out - today_ordinal) // 20
            day = check_out + int(draw() * (gap_max + 1))
    return result


def booking_dates(seed: int, booking: dict[str, Any], today: date) -> tuple[int, int | None]:
    """(the day it was made, the day it was canceled or None), as date ordinals, of a booking of the world
    generated on ``today``: a pure function of the seed and the booking, so bookings added later get one too.

    Made some lead time before check-in, never after ``today`` (a booking ahead of today exists today, so it
    was made at most ``today``); canceled between then and its check-in (or ``today``, if sooner).
    """
    digest = hashlib.blake2b(f"{seed}:{booking['avito_booking_id']}".encode(), digest_size=24).digest()
    first, second, third = (int.from_bytes(digest[i:i + 8]) / 2**64 for i in (0, 8, 16))
    today_ordinal = today.toordinal()
    check_in = date.fromisoformat(booking["check_in"]).toordinal()
    if booking["status"] == "pending":
        made = today_ordinal - _exponential(second, PENDING_AGE_MEAN_DAYS)
    elif check_in > today_ordinal:
        # What still lies ahead was booked at least that far ahead; the lead beyond that is memoryless.
        made = today_ordinal - _exponential(second, LEAD_MEAN_DAYS)
    elif first < LAST_MINUTE_SHARE:
        made = check_in - int(second * 3)
    else:
        made = check_in - _exponential(second, LEAD_MEAN_DAYS)
    made = min(made, check_in, today_ordinal)
    if booking["status"] != "canceled":
        return made, None
    last = max(made, min(check_in, today_ordinal))
    return made, made + int(third * (last - made + 1))


def _exponential(uniform: float, mean: float) -> int:
    return min(int(-mean * math.log(1 - uniform)), LEAD_MAX_DAYS)


def draw_guest_user(rng: random.Random) -> tuple[int, dict[str, Any]]:
    guest_id = rng.randrange(10_000_000, 2_000_000_000)
    first, _, last = rng.choice(GUEST_NAMES)
    return guest_id, chat_user(guest_id, f"{first} {last[0]}.", rng.getrandbits(48))


def chat_user(user_id: int, name: str, avatar_key: int) -> dict[str, Any]:
    avatar = f"https://static.avito.ru/stub_avatars/{avatar_key:012x}"
    return {
        "id": user_id,
        "name": name,
        "public_user_profile": {
            "user_id": user_id,
            "url": f"https://www.avito.ru/user/{avatar_key:012x}/profile",
            "avatar": {"default": f"{avatar}/96x96.png",
                       "images": {size: f"{avatar}/{size}.png" for size in ("24x24", "96x96", "128x128")}},
        },
    }


def new_message_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def message_content(rng: random.Random, kind: str, direction: str, item: Item | None, host_id: int
                    ) -> dict[str, Any]:
    """The ``content`` object for a message type, as messenger.json describes it."""
    if kind == "text":
        return {"text": rng.choice(GUEST_QUESTIONS if direction == "in" else HOST_ANSWERS)}
    if kind == "image":
        key = rng.getrandbits(64)
        return {"image": {"sizes": {size: f"https://00.img.avito.st/image/1/{key:016x}/{size}.jpg"
                                    for size in ("140x105", "640x480", "1280x960")}}}
    if kind == "system":
        return {"text": rng.choice(SYSTEM_TEXTS), "flow_id": None}
    if kind == "location":
        lat, lon, text = (item.latitude, item.longitude, item.address) if item else (55.7558, 37.6173, "Москва")
        return {"location": {"kind": "house", "lat": lat, "lon": lon, "text": text, "title": text.split(",")[0]}}
    if kind == "call":
        return {"call": {"status": "missed", "target_user_id": host_id}}
    return {}  # deleted: the text is gone


def _draw_chats(rng: random.Random, account: Account, host: dict[str, Any], items: list[Item], n_chats: int,
                messages_per_chat: int | None, anchor: int) -> dict[str, Chat]:
    kinds = [kind for kind, _ in MESSAGE_TYPE_WEIGHTS]
    weights = [weight for _, weight in MESSAGE_TYPE_WEIGHTS]
    active = [item for item in items if item.status == "active"] or items
    chats: dict[str, Chat] = {}
    for _ in range(n_chats):
        chat_type = "u2i" if (items and rng.random() < 0.85) else "u2u"
        item = rng.choice(active if rng.random() < 0.9 else items) if chat_type == "u2i" else None
        guest_id, guest = draw_guest_user(rng)
        chat_id = f"{chat_type}-{rng.getrandbits(128):032x}"
        n_messages = messages_per_chat if messages_per_chat is not None else rng.randint(1, 40)
        created = anchor - rng.randint(3600, 200 * 86400)
        chat = Chat(id=chat_id, type=chat_type, created=created, item_id=item.id if item else None,
                    context=item.context(account.id) if item else None, users=[host, guest], guest_id=guest_id)
        when = created
        direction = "in"
        for index in range(n_messages):
            when += rng.randint(20, 3 * 3600)
            if index and rng.random() < 0.6:
                direction = "out" if direction == "in" else "in"
            kind = rng.choices(kinds, weights)[0] if index else "text"
            if kind in ("system", "call"):
                direction = "in"
            author = account.id if direction == "out" else (0 if kind == "system" else guest_id)
            chat.messages.append({
                "id": new_message_id(rng),
                "author_id": author,
                "content": message_content(rng, kind, direction, item, account.id),
                "created": when,
                "direction": direction,
                "is_read": True,
                "read": when + rng.randint(5, 3600) if direction == "out" else None,
                "type": kind,
            })
        overflow = chat.messages[-1]["created"] - anchor if chat.messages else 0
        if overflow > 0:  # keep the whole history before the world's "now"
            chat.created -= overflow
            for message in chat.messages:
                message["created"] -= overflow
                if message["read"] is not None:
                    message["read"] = min(message["read"] - overflow, anchor)
        if chat.messages and chat.messages[-1]["direction"] == "in" and rng.random() < 0.35:
            for message in reversed(chat.messages):  # the guest's latest unanswered messages are unread
                if message["direction"] != "in":
                    break
                message["is_read"] = False
        chats[chat_id] = chat
    return chats


def _draw_stats(world: World, item: Item) -> dict[date, dict[str, int]]:
    rng = random.Random(f"stats:{world.seed}:{item.id}")
    popularity = rng.uniform(5, 60)
    listed = item.start_time.date()
    last_day = world.today if item.finish_time is None else min(world.today, item.finish_time.date())
    stats: dict[date, dict[str, int]] = {}
    for offset in range(STATS_DAYS, -1, -1):
        day = world.today - timedelta(days=offset)
        if day < listed or day > last_day or rng.random() < 0.08:
            continue  # not listed yet, or a day without any activity
        weekend = 1.4 if day.weekday() >= 4 else 1.0
        views = int(rng.gauss(popularity * weekend, popularity / 4))
        if views <= 0:
            continue
        stats[day] = {
            "uniqViews": views,
            "uniqContacts": int(views * rng.uniform(0.0, 0.12)),
            "uniqFavorites": int(views * rng.uniform(0.0, 0.08)),
        }
    return stats
