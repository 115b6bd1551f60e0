"""A synthetic SKD-style item bank in Bahasa Indonesia, for demos and load tests.

TWK items come from a small base of facts (Pancasila, UUD 1945, Bhinneka Tunggal Ika, NKRI,
national days, standard spelling, nationalism, integrity) asked in several directions; TIU
items are generated procedurally with computed keys (number series, arithmetic, quantitative
comparison, syllogisms, and figural items with generated SVG images); TKP items are
situations whose five responses carry the weights 1..5. Deterministic in ``seed``.
"""

from __future__ import annotations

import functools
import gc
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from item_bank.model import ImageAsset, IrtParams, Item

#: Items per SKD form; the default bank holds five forms' worth of each section.
FORM_SHARES = {"TWK": 30, "TIU": 35, "TKP": 45}
DEFAULT_FORMS = 5
LABELS = "ABCDE"
ORDINALS = ("pertama", "kedua", "ketiga", "keempat", "kelima")


@dataclass
class Draft:
    """An item before labels, shuffling, id and IRT parameters are given to it."""

    topic: str
    stem: str
    #: Option texts; for keyed items the first one is correct.
    options: list[str]
    difficulty: str
    #: For TKP items: the weight of each option, in the order of ``options``.
    weights: list[int] | None = None
    images: list[ImageAsset] = field(default_factory=list)
    #: Image names that follow the option to its shuffled label ("{label}" in the name).
    option_images: dict[int, bytes] = field(default_factory=dict)


Generator = Callable[[random.Random], Draft]


def _pick_others(rng: random.Random, pool: list[str], correct: str, k: int = 4) -> list[str]:
    return rng.sample([x for x in pool if x != correct], k)


# TWK ----------------------------------------------------------------------------------------
SILA = (
    "Ketuhanan Yang Maha Esa",
    "Kemanusiaan yang adil dan beradab",
    "Persatuan Indonesia",
    "Kerakyatan yang dipimpin oleh hikmat kebijaksanaan dalam permusyawaratan/perwakilan",
    "Keadilan sosial bagi seluruh rakyat Indonesia",
)
LAMBANG = ("bintang", "rantai", "pohon beringin", "kepala banteng", "padi dan kapas")
PERILAKU = (
    (
        "menghormati pemeluk agama lain yang sedang beribadah",
        "tidak memaksakan suatu agama kepada orang lain",
        "membina kerukunan antarumat beragama",
    ),
    (
        "mengakui persamaan derajat setiap manusia",
        "gemar melakukan kegiatan kemanusiaan",
        "tidak semena-mena terhadap orang lain",
    ),
    (
        "menempatkan kepentingan bangsa di atas kepentingan pribadi dan golongan",
        "bangga sebagai bangsa Indonesia dan bertanah air Indonesia",
        "memajukan pergaulan demi persatuan dan kesatuan bangsa",
    ),
    (
        "mengutamakan musyawarah untuk mencapai mufakat dalam mengambil keputusan",
        "menerima dan melaksanakan hasil musyawarah dengan itikad baik",
        "tidak memaksakan kehendak kepada orang lain dalam rapat",
    ),
    (
        "bersikap adil terhadap sesama",
        "menghormati hak orang lain",
        "tidak bergaya hidup mewah dan suka bekerja keras",
    ),
)
#: (article, what it says); UUD NRI Tahun 1945 after the four amendments.
PASAL = (
    ("Pasal 1 ayat (1)", "Negara Indonesia ialah Negara Kesatuan yang berbentuk Republik"),
    ("Pasal 1 ayat (2)", "kedaulatan berada di tangan rakyat dan dilaksanakan menurut UUD"),
    ("Pasal 1 ayat (3)", "Negara Indonesia adalah negara hukum"),
    ("Pasal 4 ayat (1)", "Presiden memegang kekuasaan pemerintahan menurut UUD"),
    ("Pasal 7", "masa jabatan Presiden dan Wakil Presiden selama lima tahun"),
    (
        "Pasal 27 ayat (3)",
        "setiap warga negara berhak dan wajib ikut serta dalam upaya pembelaan negara",
    ),
    (
        "Pasal 28E ayat (3)",
        "setiap orang berhak atas kebebasan berserikat, berkumpul, dan mengeluarkan "
        "pendapat",
    ),
    ("Pasal 29 ayat (2)", "negara menjamin kemerdekaan tiap-tiap penduduk untuk memeluk agamanya"),
    (
        "Pasal 30 ayat (1)",
        "tiap-tiap warga negara berhak dan wajib ikut serta dalam usaha pertahanan dan "
        "keamanan negara",
    ),
    ("Pasal 31 ayat (1)", "setiap warga negara berhak mendapat pendidikan"),
    (
        "Pasal 33 ayat (3)",
        "bumi, air, dan kekayaan alam di dalamnya dikuasai oleh negara dan dipergunakan "
        "untuk sebesar-besar kemakmuran rakyat",
    ),
    ("Pasal 34 ayat (1)", "fakir miskin dan anak-anak terlantar dipelihara oleh negara"),
    ("Pasal 35", "bendera Negara Indonesia ialah Sang Merah Putih"),
    ("Pasal 36", "bahasa negara ialah Bahasa Indonesia"),
    ("Pasal 36A", "lambang negara ialah Garuda Pancasila dengan semboyan Bhinneka Tunggal Ika"),
    ("Pasal 36B", "lagu kebangsaan ialah Indonesia Raya"),
    (
        "Pasal 37 ayat (5)",
        "bentuk Negara Kesatuan Republik Indonesia tidak dapat dilakukan perubahan",
    ),
)  # fmt: skip
HARI = (
    ("Hari Kebangkitan Nasional", "20 Mei"),
    ("Hari Pendidikan Nasional", "2 Mei"),
    ("Hari Lahir Pancasila", "1 Juni"),
    ("Hari Kemerdekaan Republik Indonesia", "17 Agustus"),
    ("Hari Konstitusi", "18 Agustus"),
    ("Hari Kesaktian Pancasila", "1 Oktober"),
    ("Hari Sumpah Pemuda", "28 Oktober"),
    ("Hari Pahlawan", "10 November"),
    ("Hari Nusantara", "13 Desember"),
    ("Hari Bela Negara", "19 Desember"),
    ("Hari Ibu", "22 Desember"),
)
#: (topic, question, correct answer, four wrong answers)
FAKTA = (
    ("Bhinneka Tunggal Ika", "Semboyan Bhinneka Tunggal Ika diambil dari kitab ...", "Sutasoma",
     ("Negarakertagama", "Pararaton", "Arjunawiwaha", "Bharatayuddha")),
    ("Bhinneka Tunggal Ika",
     "Kitab Sutasoma, sumber semboyan Bhinneka Tunggal Ika, ditulis oleh ...", "Mpu Tantular",
     ("Mpu Prapanca", "Mpu Kanwa", "Mpu Sedah", "Mpu Panuluh")),
    ("Bhinneka Tunggal Ika", "Makna semboyan Bhinneka Tunggal Ika adalah ...",
     "berbeda-beda tetapi tetap satu",
     ("bersatu kita teguh, bercerai kita runtuh", "satu nusa, satu bangsa, satu bahasa",
      "sekali merdeka tetap merdeka", "kesatuan wilayah di atas segalanya")),
    ("Bhinneka Tunggal Ika",
     "Lambang negara Garuda Pancasila dengan semboyan Bhinneka Tunggal Ika diatur dalam UUD "
     "NRI Tahun 1945 ...", "Pasal 36A", ("Pasal 35", "Pasal 36", "Pasal 36B", "Pasal 37")),
    ("Bhinneka Tunggal Ika", "Semboyan Bhinneka Tunggal Ika pada lambang negara tertulis pada ...",
     "pita yang dicengkeram oleh Garuda",
     ("perisai di dada Garuda", "sayap kanan Garuda", "ekor Garuda", "kepala Garuda")),
    ("NKRI", "Deklarasi Djuanda tahun 1957 menegaskan bahwa Indonesia adalah ...",
     "negara kepulauan",
     ("negara federal", "negara persemakmuran", "negara serikat", "negara maritim tanpa batas")),
    ("NKRI", "Bentuk negara Indonesia menurut UUD NRI Tahun 1945 adalah ...",
     "negara kesatuan yang berbentuk republik",
     ("negara serikat yang berbentuk republik", "negara kesatuan yang berbentuk kerajaan",
      "negara federasi", "negara persemakmuran")),
    ("NKRI", "Menurut Pasal 37 ayat (5) UUD NRI Tahun 1945, hal yang tidak dapat diubah adalah ...",
     "bentuk Negara Kesatuan Republik Indonesia",
     ("jumlah provinsi", "masa jabatan Presiden", "susunan kementerian",
      "jumlah anggota DPR")),
    ("NKRI", "Cara pandang bangsa Indonesia tentang diri dan lingkungannya yang mengutamakan "
     "persatuan dan kesatuan wilayah disebut ...", "Wawasan Nusantara",
     ("Ketahanan Nasional", "Otonomi Daerah", "Politik Bebas Aktif", "Demokrasi Pancasila")),
    ("NKRI", "Politik luar negeri Indonesia menganut prinsip ...", "bebas aktif",
     ("netral pasif", "nonblok pasif", "isolasi", "keberpihakan pada satu blok")),
    ("sejarah kebangsaan", "Naskah Proklamasi Kemerdekaan Indonesia diketik oleh ...",
     "Sayuti Melik", ("Sukarni", "Chaerul Saleh", "Mohammad Hatta", "Achmad Soebardjo")),
    ("sejarah kebangsaan", "Ketua BPUPKI adalah ...", "dr. K.R.T. Radjiman Wedyodiningrat",
     ("Ir. Soekarno", "Drs. Mohammad Hatta", "Mr. Soepomo", "Mr. Mohammad Yamin")),
    ("sejarah kebangsaan", "Ketua PPKI adalah ...", "Ir. Soekarno",
     ("dr. K.R.T. Radjiman Wedyodiningrat", "Drs. Mohammad Hatta", "Mr. Soepomo",
      "Ki Hajar Dewantara")),
    ("sejarah kebangsaan", "Lagu kebangsaan Indonesia Raya diciptakan oleh ...",
     "Wage Rudolf Supratman", ("Ismail Marzuki", "Kusbini", "Cornel Simanjuntak", "Ibu Sud")),
    ("UUD 1945", "Undang-Undang Dasar 1945 disahkan oleh PPKI pada tanggal ...",
     "18 Agustus 1945", ("17 Agustus 1945", "1 Juni 1945", "22 Juni 1945", "29 Mei 1945")),
    ("UUD 1945", "UUD 1945 telah mengalami perubahan (amandemen) sebanyak ...", "empat kali",
     ("dua kali", "tiga kali", "lima kali", "enam kali")),
)  # fmt: skip
#: (baku, tidak baku) pairs as in KBBI.
KATA_BAKU = (
    ("aktivitas", "aktifitas"), ("analisis", "analisa"), ("apotek", "apotik"),
    ("izin", "ijin"), ("jadwal", "jadual"), ("kualitas", "kwalitas"), ("praktik", "praktek"),
    ("risiko", "resiko"), ("sistem", "sistim"), ("teknik", "tehnik"), ("nasihat", "nasehat"),
    ("karier", "karir"), ("objek", "obyek"), ("kuitansi", "kwitansi"), ("hakikat", "hakekat"),
    ("ijazah", "ijasah"), ("November", "Nopember"), ("Februari", "Pebruari"),
    ("efektif", "efektip"), ("provinsi", "propinsi"), ("imbau", "himbau"),
    ("silakan", "silahkan"), ("detail", "detil"), ("atlet", "atlit"), ("sekadar", "sekedar"),
    ("andal", "handal"), ("cendekiawan", "cendikiawan"), ("antre", "antri"),
    ("jenderal", "jendral"), ("kategori", "katagori"), ("frekuensi", "frekwensi"),
    ("konkret", "kongkrit"), ("metode", "metoda"), ("rezeki", "rejeki"), ("saksama", "seksama"),
    ("teoretis", "teoritis"), ("ekstrem", "ekstrim"), ("lembap", "lembab"), ("zaman", "jaman"),
)  # fmt: skip
PERAN = ("aparatur sipil negara", "pegawai instansi pemerintah", "pegawai pelayanan publik")
NILAI = {
    "nasionalisme": (
        (
            "mengutamakan penggunaan produk dalam negeri",
            "menghormati bendera Merah Putih saat upacara",
            "menjaga persatuan di tengah perbedaan suku dan agama",
            "menggunakan bahasa Indonesia dengan baik dalam forum resmi",
        ),
        (
            "lebih bangga memakai produk luar negeri walaupun produk dalam negeri setara",
            "mengabaikan upacara bendera karena dianggap tidak penting",
            "memilih teman hanya dari suku yang sama",
            "mengutamakan kepentingan kelompoknya di atas kepentingan bangsa",
            "menganggap budaya asing selalu lebih baik daripada budaya sendiri",
        ),
    ),
    "integritas": (
        (
            "menolak pemberian dari pihak yang berkepentingan dengan pekerjaannya",
            "melaporkan gratifikasi yang terlanjur diterima kepada unit pengendalian gratifikasi",
            "bekerja sesuai prosedur walaupun tidak diawasi",
            "mengakui kesalahan dan segera memperbaikinya",
        ),
        (
            "menerima hadiah dari rekanan asalkan tidak diketahui atasan",
            "menggunakan kendaraan dinas untuk keperluan pribadi",
            "menitipkan kerabat dalam proses penerimaan pegawai",
            "mengisi daftar hadir untuk rekan yang tidak masuk kerja",
            "membiarkan rekan kerja memungut biaya layanan di luar ketentuan",
        ),
    ),
}


def _twk_pancasila(rng: random.Random) -> Draft:
    n = rng.randrange(5)
    kind = rng.randrange(6)
    if kind == 0:
        return Draft(
            "Pancasila",
            f"Bunyi sila {ORDINALS[n]} Pancasila adalah ...",
            [SILA[n], *_pick_others(rng, list(SILA), SILA[n])],
            "mudah",
        )
    if kind == 1:
        return Draft(
            "Pancasila",
            f"“{SILA[n]}” merupakan bunyi sila ... Pancasila.",
            [ORDINALS[n], *_pick_others(rng, list(ORDINALS), ORDINALS[n])],
            "mudah",
        )
    if kind == 2:
        return Draft(
            "Pancasila",
            f"Lambang {LAMBANG[n]} pada perisai Garuda Pancasila melambangkan sila ...",
            [ORDINALS[n], *_pick_others(rng, list(ORDINALS), ORDINALS[n])],
            "mudah",
        )
    if kind == 3:
        return Draft(
            "Pancasila",
            f"Lambang sila {ORDINALS[n]} Pancasila adalah ...",
            [LAMBANG[n], *_pick_others(rng, list(LAMBANG), LAMBANG[n])],
            "mudah",
        )
    behaviour = rng.choice(PERILAKU[n])
    if kind == 4:
        others = [rng.choice(PERILAKU[m]) for m in range(5) if m != n]
        rng.shuffle(others)
        return Draft(
            "Pancasila",
            f"Perilaku berikut yang mencerminkan pengamalan sila {ORDINALS[n]} "
            "Pancasila adalah ...",
            [behaviour, *others],
            "sedang",
        )
    return Draft(
        "Pancasila",
        f"Sikap “{behaviour}” merupakan pengamalan Pancasila sila ...",
        [ORDINALS[n], *_pick_others(rng, list(ORDINALS), ORDINALS[n])],
        "sedang",
    )


def _twk_uud(rng: random.Random) -> Draft:
    if rng.random() < 0.1:
        return _twk_facts("UUD 1945")(rng)
    article, content = rng.choice(PASAL)
    articles = [a for a, _ in PASAL]
    contents = [c for _, c in PASAL]
    if rng.random() < 0.5:
        return Draft(
            "UUD 1945",
            f"Menurut UUD NRI Tahun 1945 {article}, ...",
            [content, *_pick_others(rng, contents, content)],
            "sedang",
        )
    return Draft(
        "UUD 1945",
        f"Ketentuan bahwa {content} diatur dalam UUD NRI Tahun 1945 ...",
        [article, *_pick_others(rng, articles, article)],
        "sulit",
    )


def _twk_sejarah(rng: random.Random) -> Draft:
    if rng.random() < 0.25:
        return _twk_facts("sejarah kebangsaan")(rng)
    name, date = rng.choice(HARI)
    if rng.random() < 0.5:
        return Draft(
            "sejarah kebangsaan",
            f"{name} diperingati setiap tanggal ...",
            [date, *_pick_others(rng, [d for _, d in HARI], date)],
            "mudah",
        )
    return Draft(
        "sejarah kebangsaan",
        f"Setiap tanggal {date} diperingati sebagai ...",
        [name, *_pick_others(rng, [n for n, _ in HARI], name)],
        "sedang",
    )


def _twk_facts(topic: str) -> Generator:
    facts = [(stem, right, wrong) for t, stem, right, wrong in FAKTA if t == topic]

    def generate(rng: random.Random) -> Draft:
        stem, correct, wrong = rng.choice(facts)
        return Draft(topic, stem, [correct, *rng.sample(wrong, 4)], "sedang")

    return generate


def _twk_bahasa(rng: random.Random) -> Draft:
    pairs = rng.sample(KATA_BAKU, 5)
    if rng.random() < 0.5:
        return Draft(
            "bahasa Indonesia",
            "Penulisan kata baku yang tepat adalah ...",
            [pairs[0][0], *(wrong for _, wrong in pairs[1:])],
            "sedang",
        )
    return Draft(
        "bahasa Indonesia",
        "Kata berikut yang penulisannya tidak baku adalah ...",
        [pairs[0][1], *(right for right, _ in pairs[1:])],
        "sedang",
    )


def _twk_nilai(rng: random.Random) -> Draft:
    value = rng.choice(tuple(NILAI))
    good, bad = NILAI[value]
    role = rng.choice(PERAN)
    return Draft(
        value,
        f"Sebagai {role}, sikap yang paling mencerminkan {value} adalah ...",
        [rng.choice(good), *rng.sample(bad, 4)],
        "mudah",
    )


TWK_GENERATORS: tuple[Generator, ...] = (
    _twk_pancasila, _twk_uud, _twk_sejarah, _twk_facts("Bhinneka Tunggal Ika"),
    _twk_facts("NKRI"), _twk_bahasa, _twk_nilai,
)  # fmt: skip


# TIU ----------------------------------------------------------------------------------------
def series_predictions(terms: list[int]) -> set[Fraction]:
    """The next term under every series rule the terms obey (arithmetic, geometric,
    second-order, two interleaved arithmetic series, Fibonacci-like)."""
    t = terms
    found: set[Fraction] = set()
    d = [b - a for a, b in itertools.pairwise(t)]
    if len(set(d)) == 1:
        found.add(Fraction(t[-1] + d[0]))
    # Geometric: a constant ratio, checked by cross-multiplication to stay in integers.
    if t[0] != 0 and all(b * t[0] == a * t[1] for a, b in itertools.pairwise(t)):
        found.add(Fraction(t[-1] * t[1], t[0]))
    dd = [b - a for a, b in itertools.pairwise(d)]
    if len(dd) >= 2 and len(set(dd)) == 1:
        found.add(Fraction(t[-1] + d[-1] + dd[0]))
    if len(t) >= 6:
        odd, even = t[0::2], t[1::2]
        do = {b - a for a, b in itertools.pairwise(odd)}
        de = {b - a for a, b in itertools.pairwise(even)}
        if len(do) == 1 and len(de) == 1:
            nxt, step = (odd, do) if len(t) % 2 == 0 else (even, de)
            found.add(Fraction(nxt[-1] + next(iter(step))))
    if len(t) >= 3 and all(t[i] == t[i - 1] + t[i - 2] for i in range(2, len(t))):
        found.add(Fraction(t[-1] + t[-2]))
    return found


def _numeric_options(rng: random.Random, answer: int, spread: int) -> list[str]:
    wrong: set[int] = set()
    # With a spread of 5 there are always four candidates, even beside an answer of 0.
    spread = max(spread, 5)
    while len(wrong) < 4:
        candidate = answer + rng.choice((-1, 1)) * rng.randint(1, spread)
        if candidate >= 0 or answer < 0:
            wrong.add(candidate)
    return [str(answer), *(str(w) for w in sorted(wrong, key=lambda _: rng.random()))]


def _tiu_series(rng: random.Random) -> Draft:
    while True:
        kind = rng.randrange(5)
        if kind == 0:
            a, step = rng.randint(1, 60), rng.choice([-1, 1]) * rng.randint(2, 15)
            terms = [a + k * step for k in range(7)]
            difficulty = "mudah"
        elif kind == 1:
            a, r = rng.randint(1, 9), rng.choice((2, 3))
            terms = [a * r**k for k in range(7)]
            difficulty = "sedang"
        elif kind == 2:
            a, d0, c = rng.randint(1, 30), rng.randint(1, 8), rng.randint(1, 5)
            terms = [a]
            for k in range(6):
                terms.append(terms[-1] + d0 + k * c)
            difficulty = "sedang"
        elif kind == 3:
            a, b = rng.randint(1, 40), rng.randint(1, 40)
            da, db = rng.randint(2, 9), rng.randint(2, 9) * rng.choice((-1, 1))
            terms = [a + (k // 2) * da if k % 2 == 0 else b + (k // 2) * db for k in range(7)]
            difficulty = "sulit"
        else:
            a, b = rng.randint(1, 9), rng.randint(1, 12)
            terms = [a, b]
            while len(terms) < 7:
                terms.append(terms[-1] + terms[-2])
            difficulty = "sulit"
        shown, answer = terms[:6], terms[6]
        # Keep only series whose every reading agrees: a candidate must have one answer.
        if series_predictions(shown) == {Fraction(answer)}:
            break
    stem = f"Suku berikutnya dari deret {', '.join(map(str, shown))}, ... adalah ..."
    return Draft(
        "deret angka",
        stem,
        _numeric_options(rng, answer, max(3, abs(answer - shown[-1]))),
        difficulty,
    )


def _tiu_arithmetic(rng: random.Random) -> Draft:
    kind = rng.randrange(5)
    if kind == 0:
        a, b, d = rng.randint(12, 99), rng.randint(3, 25), rng.randint(2, 12)
        c = d * rng.randint(2, 40)
        answer = a * b - c // d
        stem, difficulty = f"Hasil dari {a} × {b} − {c} : {d} adalah ...", "sedang"
    elif kind == 1:
        p = rng.choice((5, 10, 15, 20, 25, 30, 40, 45, 60, 75))
        x = 20 * rng.randint(2, 60)
        answer = p * x // 100
        stem, difficulty = f"{p}% dari {x} adalah ...", "mudah"
    elif kind == 2:
        d1, d2 = rng.choice((2, 3, 4, 5)), rng.choice((2, 3, 4, 5))
        f1, f2 = Fraction(rng.randint(1, d1 - 1), d1), Fraction(rng.randint(1, d2 - 1), d2)
        x1 = 60 * rng.randint(1, 8)
        x2 = 60 * rng.randint(1, 8)
        answer = int(f1 * x1 + f2 * x2)
        stem = (
            f"Nilai dari {f1.numerator}/{f1.denominator} × {x1} + "
            f"{f2.numerator}/{f2.denominator} × {x2} adalah ..."
        )
        difficulty = "sedang"
    elif kind == 3:
        speed, hours = rng.randint(30, 90), rng.randint(2, 6)
        answer = speed
        stem = (
            f"Sebuah mobil menempuh jarak {speed * hours} km dalam {hours} jam. "
            "Kecepatan rata-rata mobil itu adalah ... km/jam."
        )
        difficulty = "mudah"
    else:
        a, x, b = rng.randint(2, 12), rng.randint(1, 30), rng.randint(1, 50)
        answer = x
        stem = f"Jika {a}x + {b} = {a * x + b}, maka nilai x adalah ..."
        difficulty = "mudah"
    return Draft("aritmetika", stem, _numeric_options(rng, answer, max(5, answer // 5)), difficulty)


def _quantity(rng: random.Random) -> tuple[str, Fraction]:
    kind = rng.randrange(3)
    if kind == 0:
        p, x = rng.choice((10, 20, 25, 40, 50, 75)), 20 * rng.randint(1, 20)
        return f"{p}% dari {x}", Fraction(p * x, 100)
    if kind == 1:
        denominator = rng.choice((2, 3, 4, 5, 8))
        f = Fraction(rng.randint(1, denominator - 1), denominator)
        x = 120 * rng.randint(1, 10)
        return f"{f.numerator}/{f.denominator} dari {x}", f * x
    a, b = rng.randint(2, 15), rng.randint(2, 15)
    return f"{a} × {b}", Fraction(a * b)


COMPARISONS = ("P > Q", "P < Q", "P = Q", "Hubungan P dan Q tidak dapat ditentukan")


def _spellings(value: Fraction) -> list[str]:
    """Other ways _quantity could write ``value``: a percentage, a fraction, a product."""
    if value.denominator != 1 or value <= 0:
        return []
    n = int(value)
    texts = [f"{p}% dari {n * 100 // p}" for p in (10, 20, 25, 40, 50, 75) if n * 100 % p == 0]
    texts += [
        f"{a}/{d} dari {n * d // a}"
        for d in (2, 3, 4, 5, 8)
        for a in range(1, d)
        if Fraction(a, d).denominator == d and n * d % a == 0
    ]
    texts += [f"{a} × {n // a}" for a in range(2, 16) if n % a == 0 and 2 <= n // a <= 15]
    return texts


def _tiu_comparison(rng: random.Random) -> Draft:
    p_text, p = _quantity(rng)
    # An equal pair, written differently, makes candidates compute instead of guess.
    equal = [t for t in _spellings(p) if t != p_text] if rng.random() < 0.3 else []
    if equal:
        q_text, q = rng.choice(equal), p
    else:
        q_text, q = _quantity(rng)
        for _ in range(40):
            # Close quantities: "P = 3/5 dari 720, Q = 2 × 6" would be answered at a glance.
            if q != p and abs(q - p) <= p / 4:
                break
            q_text, q = _quantity(rng)
    correct = COMPARISONS[0 if p > q else 1 if p < q else 2]
    others = [c for c in COMPARISONS if c != correct]
    rng.shuffle(others)
    stem = f"Jika P = {p_text} dan Q = {q_text}, maka hubungan P dan Q adalah ..."
    return Draft("perbandingan kuantitatif", stem, [correct, *others], "sedang")


KATEGORI = (
    ("peserta ujian", "membawa kartu identitas", "tidak membawa kartu identitas"),
    ("pegawai di kantor itu", "mengikuti apel pagi", "tidak mengikuti apel pagi"),
    ("atlet nasional", "berlatih setiap hari", "tidak berlatih setiap hari"),
    ("siswa kelas XII", "mengikuti ujian akhir", "tidak mengikuti ujian akhir"),
    ("anggota koperasi", "membayar iuran wajib", "tidak membayar iuran wajib"),
    ("petani di desa itu", "menanam padi", "tidak menanam padi"),
    ("dokter di rumah sakit itu", "bertugas jaga malam", "tidak bertugas jaga malam"),
)
IMPLIKASI = (
    ("hari hujan", "hari tidak hujan", "jalan basah", "jalan tidak basah"),
    ("{x} rajin belajar", "{x} tidak rajin belajar", "{x} lulus ujian", "{x} tidak lulus ujian"),
    ("harga BBM naik", "harga BBM tidak naik", "ongkos angkutan naik",
     "ongkos angkutan tidak naik"),
    ("listrik padam", "listrik tidak padam", "komputer kantor mati",
     "komputer kantor tidak mati"),
    ("{x} berolahraga teratur", "{x} tidak berolahraga teratur", "{x} sehat",
     "{x} tidak sehat"),
    ("sungai meluap", "sungai tidak meluap", "desa itu banjir", "desa itu tidak banjir"),
    ("{x} datang tepat waktu", "{x} tidak datang tepat waktu", "{x} mengikuti rapat",
     "{x} tidak mengikuti rapat"),
)  # fmt: skip
NAMA = ("Andi", "Budi", "Siti", "Rina", "Dewi", "Agus", "Made", "Yohanes", "Fatimah", "Rudi")
NO_CONCLUSION = "Tidak dapat ditarik kesimpulan."


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _tiu_syllogism(rng: random.Random) -> Draft:
    x = rng.choice(NAMA)
    kind = rng.randrange(3)
    if kind == 0:
        group, does, does_not = rng.choice(KATEGORI)
        stem = f"Semua {group} {does}. {x} adalah {group}.\n\nKesimpulan yang tepat adalah ..."
        options = [
            f"{x} {does}.",
            f"{x} {does_not}.",
            _sentence(f"semua yang {does} adalah {group}"),
            _sentence(f"sebagian {group} {does_not}"),
            NO_CONCLUSION,
        ]
        return Draft("silogisme", stem, options, "mudah")
    p, not_p, q, not_q = (part.format(x=x) for part in rng.choice(IMPLIKASI))
    if kind == 1:  # modus ponens
        stem = f"Jika {p}, maka {q}. {_sentence(p)}\n\nKesimpulan yang tepat adalah ..."
        options = [
            _sentence(q),
            _sentence(not_q),
            _sentence(not_p),
            _sentence(f"jika {not_p}, maka {not_q}"),
            NO_CONCLUSION,
        ]
        return Draft("silogisme", stem, options, "sedang")
    stem = f"Jika {p}, maka {q}. {_sentence(not_q)}\n\nKesimpulan yang tepat adalah ..."
    options = [
        _sentence(not_p),
        _sentence(p),
        _sentence(q),
        _sentence(f"jika {q}, maka {p}"),
        NO_CONCLUSION,
    ]
    return Draft("silogisme", stem, options, "sulit")


#: Shapes with no rotational symmetry, so every rotation looks different.
SHAPES = {
    "panah": "30,6 44,22 35,22 35,52 25,52 25,22 16,22",
    "bendera": "18,8 22,8 22,20 46,27 22,34 22,52 18,52",
    "huruf L": "18,8 28,8 28,42 46,42 46,52 18,52",
}


@functools.lru_cache(maxsize=1024)
def _svg(points: str, angles: tuple[int | None, ...]) -> bytes:
    """A row of 60x60 frames, each the shape turned by its angle ("?" for None)."""
    frames = []
    for i, angle in enumerate(angles):
        x = i * 64
        frames.append(
            f'<rect x="{x + 1}" y="1" width="58" height="58" fill="white" '
            'stroke="#333" stroke-width="2"/>'
        )
        if angle is None:
            frames.append(
                f'<text x="{x + 30}" y="40" font-size="28" text-anchor="middle" '
                'font-family="sans-serif">?</text>'
            )
        else:
            frames.append(
                f'<g transform="translate({x} 0) rotate({angle} 30 30)">'
                f'<polygon points="{points}" fill="#1f4e79"/></g>'
            )
    width = 64 * len(angles) - 4
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="60" '
        f'viewBox="0 0 {width} 60">{"".join(frames)}</svg>'
    ).encode()


def _tiu_figural(rng: random.Random) -> Draft:
    shape = rng.choice(tuple(SHAPES))
    step = rng.choice((45, 90, 135)) * rng.choice((1, -1))
    start = rng.randrange(8) * 45
    shown = [(start + k * step) % 360 for k in range(4)]
    answer = (start + 4 * step) % 360
    wrong = rng.sample([a for a in range(0, 360, 45) if a != answer], 4)
    stem_image = _svg(SHAPES[shape], (*shown, None))
    difficulty = {90: "mudah", 45: "sedang", 135: "sulit"}[abs(step)]
    return Draft(
        "figural",
        "Perhatikan pola gambar berikut.\n\n![pola gambar](pola.svg)\n\n"
        "Gambar manakah yang tepat untuk mengisi tanda tanya?",
        ["![pilihan](pilihan-{label}.svg)" for _ in range(5)],
        difficulty,
        images=[ImageAsset(name="pola.svg", media_type="image/svg+xml", data=stem_image)],
        option_images={
            i: _svg(SHAPES[shape], (angle,)) for i, angle in enumerate([answer, *wrong])
        },
    )


TIU_GENERATORS: tuple[Generator, ...] = (
    _tiu_series, _tiu_arithmetic, _tiu_comparison, _tiu_syllogism, _tiu_figural,
)  # fmt: skip


# TKP ----------------------------------------------------------------------------------------
#: (aspect, situation, responses from the best (weight 5) to the worst (weight 1)).
SITUASI = (
    ("pelayanan publik",
     "Hari ini Anda bertugas di loket {tempat}. Menjelang jam layanan berakhir, seorang "
     "warga lanjut usia datang dengan berkas yang belum lengkap. Sikap Anda ...",
     ("menjelaskan dengan sabar kekurangan berkasnya dan membantu mencatat apa yang perlu "
      "dilengkapi", "menerima berkas yang ada dan memintanya kembali esok hari",
      "memintanya bertanya kepada petugas lain", "memintanya datang lagi tanpa penjelasan",
      "menolaknya karena jam layanan hampir habis")),
    ("pelayanan publik",
     "Seorang pengguna layanan di {tempat} marah karena antrean panjang. Sikap Anda ...",
     ("meminta maaf, menjelaskan penyebabnya, dan mengusulkan perbaikan alur antrean",
      "mendengarkan keluhannya lalu melanjutkan pekerjaan", "memintanya menulis di kotak saran",
      "membiarkannya sampai tenang sendiri", "menegurnya agar tidak mengganggu")),
    ("jejaring kerja",
     "Unit Anda di {tempat} perlu data dari instansi lain yang belum Anda kenal. Sikap Anda ...",
     ("menghubungi instansi itu secara resmi dan membangun kerja sama yang berkelanjutan",
      "meminta bantuan atasan untuk menghubungi mereka", "menunggu instansi itu menawarkan data",
      "menggunakan data lama yang ada", "menganggap tugas itu bukan tanggung jawab Anda")),
    ("jejaring kerja",
     "Rekan kerja Anda, {rekan}, dari bagian lain meminta bantuan saat Anda sedang sibuk. "
     "Sikap Anda ...",
     ("mengatur waktu agar tetap dapat membantu tanpa mengorbankan tugas sendiri",
      "membantu setelah pekerjaan Anda selesai", "menyarankan rekan lain yang lebih longgar",
      "menjanjikan bantuan tetapi tidak menepatinya", "menolak karena bukan urusan bagian Anda")),
    ("sosial budaya",
     "Anda ditempatkan di {tempat} yang adat istiadatnya berbeda dengan daerah asal Anda. "
     "Sikap Anda ...",
     ("mempelajari dan menghormati adat setempat serta bergaul dengan warga",
      "menyesuaikan diri seperlunya dalam pekerjaan", "bergaul hanya dengan sesama pendatang",
      "menghindari kegiatan warga setempat", "meminta dipindahkan ke daerah asal")),
    ("sosial budaya",
     "Dalam tim Anda di {tempat}, {rekan} sering diejek karena logat daerahnya. Sikap Anda ...",
     ("mengingatkan tim untuk saling menghargai dan mengajak {rekan} terlibat",
      "menghibur {rekan} secara pribadi", "diam saja agar tidak terjadi konflik",
      "ikut tertawa agar suasana tetap cair", "ikut mengejek karena dianggap lucu")),
    ("teknologi informasi dan komunikasi",
     "Kantor Anda di {tempat} menerapkan aplikasi layanan daring yang baru. Sikap Anda ...",
     ("mempelajarinya dengan sungguh-sungguh dan membantu rekan yang kesulitan",
      "mempelajarinya sesuai kebutuhan tugas", "menunggu pelatihan resmi sebelum memakainya",
      "tetap memakai cara manual selama masih bisa", "menolak karena cara lama sudah cukup")),
    ("teknologi informasi dan komunikasi",
     "Anda menerima pesan berisi tautan yang meminta kata sandi akun kantor Anda di {tempat}. "
     "Sikap Anda ...",
     ("tidak membuka tautan dan melaporkannya kepada pengelola TI",
      "menghapus pesan itu", "bertanya kepada {rekan} apakah pesan itu asli",
      "membuka tautan tetapi tidak mengisi apa pun",
      "mengisi kata sandi agar akun tidak diblokir")),
    ("profesionalisme",
     "Atasan Anda di {tempat} memberi tugas mendesak di luar uraian jabatan Anda. Sikap Anda ...",
     ("mengerjakannya sebaik mungkin dan berkoordinasi bila perlu bantuan",
      "mengerjakannya setelah tugas rutin selesai", "mengerjakannya dengan setengah hati",
      "meminta {rekan} mengerjakannya", "menolak karena bukan tugas Anda")),
    ("profesionalisme",
     "Anda menemukan kesalahan pada laporan yang sudah Anda kirim dari {tempat}. Sikap Anda ...",
     ("segera melaporkan dan mengirim perbaikannya", "memperbaikinya pada laporan berikutnya",
      "menunggu sampai ada yang menanyakan", "menyalahkan data dari bagian lain",
      "menyembunyikannya agar tidak ditegur")),
    ("antiradikalisme",
     "Di grup percakapan warga {tempat}, beredar ajakan membenci kelompok agama tertentu. "
     "Sikap Anda ...",
     ("tidak menyebarkannya, mengingatkan anggota grup, dan melaporkannya kepada pihak berwenang",
      "mengingatkan pengirim secara pribadi", "keluar dari grup", "membiarkannya saja",
      "ikut menyebarkannya")),
    ("antiradikalisme",
     "{rekan} mengajak Anda mengikuti kelompok yang menolak Pancasila sebagai dasar negara. "
     "Sikap Anda ...",
     ("menolak, menjelaskan pentingnya Pancasila, dan melaporkan bila ada ancaman",
      "menolak dengan tegas", "menolak dengan alasan sibuk", "menghadiri sekali untuk melihat",
      "ikut bergabung")),
)  # fmt: skip
TEMPAT = ("kantor kecamatan", "dinas kependudukan", "puskesmas", "kantor pajak pratama",
          "kantor kelurahan", "dinas perhubungan", "rumah sakit daerah", "kantor imigrasi",
          "dinas pendidikan", "kantor pelayanan terpadu")  # fmt: skip
JABATAN = ("pegawai baru", "pegawai senior", "ketua tim", "staf teknis", "staf administrasi")
REKAN = ("Rina", "Budi", "Wayan", "Maria", "Ahmad", "Lestari", "Yusuf", "Nyoman")


def _tkp(aspect: str) -> Generator:
    situations = [(situation, responses) for a, situation, responses in SITUASI if a == aspect]

    def generate(rng: random.Random) -> Draft:
        situation, responses = rng.choice(situations)
        place, colleague = rng.choice(TEMPAT), rng.choice(REKAN)
        stem = f"Anda adalah {rng.choice(JABATAN)}. " + situation.format(
            tempat=place, rekan=colleague
        )
        options = [_sentence(r.format(rekan=colleague)).removesuffix(".") for r in responses]
        return Draft(aspect, stem, options, "sedang", weights=[5, 4, 3, 2, 1])

    return generate


#: One generator per TKP aspect, so every aspect is equally represented.
TKP_GENERATORS: tuple[Generator, ...] = tuple(
    _tkp(a) for a in dict.fromkeys(a for a, *_ in SITUASI)
)
GENERATORS = {"TWK": TWK_GENERATORS, "TIU": TIU_GENERATORS, "TKP": TKP_GENERATORS}


# Assembly -----------------------------------------------------------------------------------
def section_sizes(size: int | None) -> dict[str, int]:
    """Items per section: five forms' worth by default, else ``size`` split like a form."""
    if size is None:
        return {s: n * DEFAULT_FORMS for s, n in FORM_SHARES.items()}
    if size < 0:
        raise ValueError(f"size must be zero or more, not {size}")
    total = sum(FORM_SHARES.values())
    exact = {s: size * n / total for s, n in FORM_SHARES.items()}
    sizes = {s: math.floor(v) for s, v in exact.items()}
    # Largest remainder: the counts add up to exactly ``size``.
    for s in sorted(exact, key=lambda s: exact[s] - sizes[s], reverse=True)[
        : size - sum(sizes.values())
    ]:
        sizes[s] += 1
    return sizes


def _irt(rng: random.Random, draft: Draft) -> IrtParams:
    a = round(min(2.5, max(0.4, rng.lognormvariate(0.0, 0.3))), 3)
    if draft.weights is not None:
        thresholds = sorted(round(rng.gauss(mu, 0.3), 3) for mu in (-1.5, -0.5, 0.5, 1.5))
        return IrtParams(model="gpcm", a=a, thresholds=tuple(thresholds))
    centre = {"mudah": -1.0, "sedang": 0.0, "sulit": 1.0}[draft.difficulty]
    b = round(min(3.0, max(-3.0, rng.gauss(centre, 0.4))), 3)
    c = round(rng.uniform(0.05, 1 / len(draft.options)), 3)
    return IrtParams(model="3pl", a=a, b=b, c=c)


def _finish(rng: random.Random, draft: Draft, item_id: str, section: str) -> Item:
    order = list(range(len(draft.options)))
    rng.shuffle(order)
    labels = LABELS[: len(order)]
    options = {labels[pos]: draft.options[src].replace("{label}", labels[pos])
               for pos, src in enumerate(order)}  # fmt: skip
    images = list(draft.images)
    for pos, src in enumerate(order):
        if src in draft.option_images:
            images.append(
                ImageAsset(
                    name=f"pilihan-{labels[pos]}.svg",
                    media_type="image/svg+xml",
                    data=draft.option_images[src],
                )
            )
    fields: dict[str, object] = {}
    if draft.weights is not None:
        fields["weights"] = {
            labels[pos]: float(draft.weights[src]) for pos, src in enumerate(order)
        }
    else:
        fields["key"] = labels[order.index(0)]
    return Item(
        id=item_id, section=section, topic=draft.topic, stem=draft.stem, options=options,
        difficulty=draft.difficulty, irt=_irt(rng, draft), images=tuple(images), **fields,
    )  # fmt: skip


#: Up to this many drafts per section are kept distinct; past it (load-test banks of up to
#: 100,000 items) a fact question may repeat, and no time is spent looking for new ones.
DISTINCT_DRAFTS = 2_000


def _fingerprint(draft: Draft) -> tuple[object, ...]:
    return (
        draft.stem,
        frozenset(draft.options),
        tuple(image.data for image in draft.images),
        frozenset(draft.option_images.values()),
    )


def _drafts(rng: random.Random, generators: tuple[Generator, ...]) -> Iterator[Draft]:
    """Drafts in topic rotation, the first DISTINCT_DRAFTS of them all different."""
    seen: set[tuple[object, ...]] = set()
    for n in _count():
        generator = generators[n % len(generators)]
        draft = generator(rng)
        if n < DISTINCT_DRAFTS:
            for attempt in range(1, 200):
                if _fingerprint(draft) not in seen:
                    break
                # A topic whose few facts are used up hands over to the other topics.
                draft = (generator if attempt < 20 else rng.choice(generators))(rng)
            seen.add(_fingerprint(draft))
        yield draft


def _count() -> Iterator[int]:
    n = 0
    while True:
        yield n
        n += 1


def generate_demo_items(size: int | None = None, *, seed: int = 0) -> list[Item]:
    """A synthetic SKD bank: TWK, TIU and TKP items with ids like ``TIU-000123``.

    ``size=None`` gives five forms' worth per section (150 TWK, 175 TIU, 225 TKP), all
    distinct; ``size=N`` gives N items split 30:35:45. The same seed gives the same bank.
    """
    items: list[Item] = []
    # Hundreds of thousands of small acyclic objects would trigger the cyclic garbage
    # collector again and again (about 40% of the time of a 100,000-item bank): pause it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for section, count in section_sizes(size).items():
            rng = random.Random(f"cat-engine-demo:{seed}:{section}")
            drafts = _drafts(rng, GENERATORS[section])
            for number in range(1, count + 1):
                items.append(_finish(rng, next(drafts), f"{section}-{number:06d}", section))
    finally:
        if collecting:
            gc.enable()
    return items
