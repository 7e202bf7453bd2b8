"""The buyer's privacy as TOP keeps it: each trade's receiver is drawn in
plain text (Chinese names, mobiles, real province / city / district /
zip combinations, street details) and kept by the shop; the API serves
only ciphertexts of the name, mobile and street address, an ``oaid``
naming the receiver, a masked ``buyer_nick`` and an opaque
``buyer_open_uid``.

Ciphertexts follow the layout of TOP's SecurityClient (unconfirmed in
detail): ``~<search>~<cipher>~1~~`` for names and addresses,
``$<search>$<cipher>$1$$`` for phones, both parts base64. The cipher is
the sandbox's own: deterministic (the same plaintext gives the same text
in one shop, as an index must) and reversible by the shop alone
(``Vault.decrypt``), for tests: never over the API."""
from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import asdict, dataclass
from typing import Any

# (state, city, district, zip, town, streets)
REGIONS = (
    ('浙江省', '杭州市', '西湖区', '310012', '文新街道',
        ('文三路', '古墩路')),
    ('广东省', '深圳市', '南山区', '518052', '粤海街道',
        ('科技园南路', '深南大道')),
    ('北京市', '北京市', '朝阳区', '100020', '建外街道',
        ('建国路', '东三环中路')),
    ('上海市', '上海市', '浦东新区', '200120', '陆家嘴街道',
        ('世纪大道', '浦东南路')),
    ('四川省', '成都市', '武侯区', '610041', '玉林街道',
        ('人民南路四段', '科华北路')),
    ('江苏省', '南京市', '玄武区', '210018', '玄武门街道',
        ('中山路', '北京东路')),
    ('内蒙古自治区', '呼和浩特市', '新城区', '010050', '海拉尔东路街道',
        ('新华大街', '兴安北路')),
    ('广西壮族自治区', '南宁市', '青秀区', '530022', '新竹街道',
        ('民族大道', '东葛路')),
    ('湖北省', '武汉市', '洪山区', '430070', '珞南街道',
        ('珞喻路', '雄楚大道')),
    ('山东省', '青岛市', '市南区', '266071', '八大关街道',
        ('香港中路', '东海西路')),
    ('福建省', '厦门市', '思明区', '361001', '鹭江街道',
        ('湖滨南路', '厦禾路')),
    ('新疆维吾尔自治区', '乌鲁木齐市', '天山区', '830002', '燕儿窝街道',
        ('解放南路', '新华南路')),
    )
SURNAMES = '王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗'
GIVEN = ('小明', '秀英', '伟', '芳', '娜', '敏', '静', '丽', '强', '磊',
    '军', '洋', '勇', '艳', '杰', '娟', '涛', '超', '霞', '建华', '晓燕',
    '海燕', '志强', '桂英')
BUILDINGS = ('华星时代广场', '阳光花园', '金地中心', '万科城', '国贸大厦',
    '锦绣小区', '世纪花园', '滨江公寓')
# Which separator each kind of text is served with (TOP's layout)
SEPARATORS = {'name': '~', 'address': '~', 'mobile': '$'}


@dataclass
class Receiver:
    "Where a trade goes, in plain text: kept by the shop, never served"
    name: str
    mobile: str
    state: str
    city: str
    district: str
    town: str | None
    address: str               # the street detail below the district
    zip: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def draw_receiver(rng: random.Random) -> Receiver:
    state, city, district, zip_code, town, streets = rng.choice(REGIONS)
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    # 1[3-9]x xxxx xxxx, written without spaces
    mobile = f'1{rng.randrange(3, 10)}' + ''.join(
        str(rng.randrange(10)) for _ in range(9))
    if rng.random() < 0.5:
        unit = f"{rng.choice('ABCD')}座 {rng.randrange(2, 30)}" \
            f"{rng.randrange(1, 10):02d}室"
    else:
        unit = f"{rng.randrange(1, 20)}栋{rng.randrange(1, 5)}单元 " \
            f"{rng.randrange(1, 30)}{rng.randrange(1, 5):02d}室"
    address = f"{rng.choice(streets)} {rng.randrange(1, 999)}号 " \
        f"{rng.choice(BUILDINGS)} {unit}"
    return Receiver(name, mobile, state, city, district,
        town if rng.random() < 0.5 else None, address, zip_code)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode('ascii')


class Vault:
    "One shop's keys: receivers' ciphertexts, oaids and buyers' ids"

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(f'vault/{secret}'.encode()).digest()

    def _mac(self, purpose: str, data: bytes) -> bytes:
        return hmac.new(self._key, purpose.encode() + b'/' + data,
            hashlib.sha256).digest()

    def _stream(self, nonce: bytes, size: int) -> bytes:
        blocks = (self._mac('stream', nonce + n.to_bytes(4, 'big'))
            for n in range(size // 32 + 1))
        return b''.join(blocks)[:size]

    def encrypt(self, plain: str, kind: str) -> str:
        """The text TOP serves for a plaintext of a kind (name, address,
        mobile)"""
        separator = SEPARATORS[kind]
        data = plain.encode('utf-8')
        # A nonce from the plaintext (SIV-like): deterministic, yet two
        # texts share no keystream
        nonce = self._mac('nonce', data)[:12]
        cipher = nonce + bytes(a ^ b for a, b in zip(
                data, self._stream(nonce, len(data)), strict=True))
        search = self._mac('search/' + kind, data)[:12]
        return separator.join(('', _b64(search), _b64(cipher), '1', '',
                ''))

    def decrypt(self, served: str) -> str:
        "The plaintext of a served ciphertext (ValueError if not one)"
        separator = served[:1]
        parts = served.split(separator) if separator in '~$' and separator \
            else []
        if len(parts) != 6 or parts[0] or parts[3] != '1' \
                or any(parts[4:]):
            raise ValueError(f"not a TOP ciphertext: {served[:40]!r}")
        try:
            cipher = base64.b64decode(parts[2], validate=True)
        except ValueError:
            raise ValueError("not a TOP ciphertext: bad base64") from None
        nonce, body = cipher[:12], cipher[12:]
        data = bytes(a ^ b for a, b in zip(body,
                self._stream(nonce, len(body)), strict=True))
        if self._mac('nonce', data)[:12] != nonce:
            raise ValueError("not a ciphertext of this shop")
        return data.decode('utf-8')

    def oaid(self, receiver: Receiver) -> str:
        "A stable id of the receiver (name, mobile and address)"
        return self._mac('oaid', '|'.join((receiver.name, receiver.mobile,
                    receiver.state, receiver.city, receiver.district,
                    receiver.address)).encode()).hex()[:40]

    def buyer_open_uid(self, buyer: str) -> str:
        "The buyer's opaque id for this app (stable per buyer)"
        digest = base64.urlsafe_b64encode(self._mac('buyer',
                buyer.encode())).decode()
        return 'AAF' + digest.replace('-', 'x').replace('_', 'y')[:21]


def mask_nick(nick: str) -> str:
    "t**1: a buyer's nick as TOP shows it to a seller's app"
    return f'{nick[:1]}**{nick[-1:]}' if nick else '**'
