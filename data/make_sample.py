#!/usr/bin/env python3
"""Generate data/sample.txt: a small synthetic English prose corpus.

Everything here is produced from a hand-written grammar (word lists and
sentence templates written for this project); no text is copied from
books or the web.  The setting is an imaginary English village,
Ashcombe, and the towns around it.  The generator is deterministic: it
uses random.Random(7), so running

    python data/make_sample.py

rewrites data/sample.txt byte-for-byte identically every time.
Standard library only.
"""
import os
import random
import textwrap

SEED = 7
N_SENTENCES = 5000
WIDTH = 70
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample.txt")

rng = random.Random(SEED)


def pick(seq):
    return rng.choice(seq)


def chance(p):
    return rng.random() < p


def W(s):
    return s.split()


# ================================================================ people
FIRST = W("""
Alice Arthur Bella Benedict Clara Cedric Daisy Dorian Edith Edmund Flora
Felix Grace Gideon Hattie Harold Iris Isaac Josephine Jasper Kitty Lionel
Lucy Martin Mabel Nathaniel Nora Oliver Olive Percy Pearl Quentin Rosa
Rupert Sophie Silas Tilly Thomas Ursula Victor Violet Walter Winifred
Agnes Basil Cora Duncan Elsie Frank Greta Hugh Ivy Jonah Lettie Miles
Nell Owen Prudence Ralph Selma Tobias Vera Wilfred Ada Bertram Cecily
Dennis Eliza Fergus Gertrude Horace Imogen Jack Louisa Matthew Norman
Phoebe Reuben Sybil Timothy Wallace
Abigail Barnaby Constance Digby Eleanor Ernest Frederick Gwendolen Hester
Humphrey Jemima Kenneth Leonard Lavinia Maud Mortimer Nancy Oswald
Philippa Roland Rosalind Samuel Theodora Ulric Wilhelmina Albert Beatrice
Clement Dorothy Eustace Florence Godfrey Harriet Ignatius Judith Lydia
Marjorie Neville Ottoline Peregrine Rowena Septimus Tabitha Cuthbert
Enid Hubert Mildred Ambrose Letitia Bartholomew Euphemia
""")
SURNAMES = W("""
Hale Dobbs Pike Wren Lark Thornley Ashby Crane Fenwick Marlow Pennyworth
Brook Holloway Gage Tolliver Quill Rookwood Sutton Barlow Kettle Mossop
Haddon Bellamy Cobb Fairweather Greaves Larkin Mallory Nettles Oakes
Pritchard Ramsey Sparrow Tupper Underhill Vane Whitlock Yardley Abbott
Birch Cartwright Dunmore Elwood Fletcher Gosling Hatch Ingram Jessop
Kimber Loveday Merriman Nuttall Ormsby Pettigrew Quarrie Rudd Swinburne
Treadwell Upjohn Venables Wainwright Ackroyd Blundell Chubb Dimmock
Eversley Fothergill Gubbins Hornblower Ibbotson Kirkby Lightfoot
Mumford Nightingale Outhwaite Penhallow Ridley Sowerby Threlfall
Wetherby Allsop Boddington Crabtree Dewhurst Entwistle Farrow Gedge
""")
TITLES = ["Mr.", "Mrs.", "Dr.", "Miss", "Mr.", "Mrs.", "Mr.", "Mrs.",
          "Captain", "Old"]
PROFESSIONS = W("""
baker blacksmith miller shepherd schoolteacher innkeeper postmistress
carpenter weaver fisherman gardener doctor vicar cobbler tailor potter
butcher farmer ferryman lamplighter clockmaker bookseller constable
dressmaker chandler grocer stationmaster beekeeper midwife glazier
thatcher cooper saddler postman milkmaid washerwoman cook housekeeper
coachman gamekeeper poacher pedlar tinker organist sexton curate squire
governess nurse clerk locksmith watchmaker harbourmaster
wheelwright draper haberdasher ironmonger fishmonger greengrocer
barber auctioneer solicitor magistrate surveyor mason plasterer
ploughman carter drover hedger ostler verger chimney-sweep knife-grinder
rat-catcher photographer telegraphist publican schoolmistress
""")
KIN = W("""
mother father sister brother aunt uncle cousin grandmother grandfather
niece nephew husband wife son daughter godmother neighbour lodger friend
""")
ANIMALS = W("""
dog cat horse goat hen rooster cow pig sheep donkey fox owl crow heron
badger hare rabbit mouse sparrow swan duck goose magpie pony ferret
hedgehog squirrel lamb kitten puppy robin wren otter mole bullock
terrier spaniel mare gander jackdaw starling rat weasel
pigeon blackbird thrush kingfisher moorhen stoat vole toad frog newt
beetle moth bee wasp trout eel carp ram ewe heifer foal collie
""")
PERSON_ADJ = W("""
old young tall short stout thin clever foolish careful careless brave
timid proud humble honest curious anxious cheerful gloomy patient
restless weary eager stubborn kindly stern shy bold generous stingy
polite rude sleepy lonely merry grim hopeful worried handsome plain
talkative quiet elderly grey-haired red-faced freckled cautious cheeky
sensible absent-minded hard-working bad-tempered good-natured nosy
fussy gruff jolly solemn wise silly sharp-eyed soft-spoken
""")
FEELINGS = W("""
glad sorry tired cross puzzled delighted nervous relieved astonished
flustered indignant bashful sheepish dismayed heartbroken overjoyed
perplexed mortified exasperated wary apprehensive
embarrassed grateful ashamed uneasy content hopeful suspicious jealous
amused annoyed frightened pleased surprised disappointed determined
homesick furious bewildered cheerful sleepy restless thankful
""")

# ================================================================ places
PLACES = W("""
green mill bakery church schoolhouse inn post-office market harbour quay
lighthouse orchard meadow bridge river ford forge station vicarage
bookshop apothecary churchyard chapel lane street hill wood marsh cliffs
pier farmhouse barn kitchen parlour attic cellar garden greenhouse
stable yard hall library tearoom watermill quarry common pond allotments
boathouse rectory crossroads dairy laundry workshop pantry scullery
hayloft granary smithy wharf warehouse tollhouse manor lodge cottage
almshouse schoolroom vestry belfry cowshed pigsty woodshed coal-yard
brewery tannery ropewalk shipyard chandlery draper's haberdashery
saleroom courthouse gatehouse dovecote icehouse summerhouse orangery
""")
PLACE_FIX = {"post-office": "post office", "green": "village green",
             "street": "high street", "hall": "town hall",
             "wood": "beech wood", "pond": "duck pond",
             "common": "common", "lane": "lane behind the chapel",
             "yard": "stable yard", "hill": "hill above the village"}
PLACE_ADJ = W("""
old new crowded empty quiet noisy muddy dusty draughty cosy narrow
crooked shady sunny windy misty frosty peaceful lively silent familiar
shabby splendid tidy untidy damp cold warm ruined whitewashed
""")
INN_NAMES = ["the Crooked Lantern", "the Drowned Bell", "the Three Herons",
             "the Plough and Harrow", "the Blue Kettle"]
TOWNS = W("""
Ashcombe Brindle Hollowmere Fennick Larkstone Marrowby Wickham Thornbury
Eddisford Kingsmoor Saltley Pennock Greywater Oldbridge Rushden Combe
Amberley Stowbridge Netherfold Corrow
Pelling Wrexford Upcott Dunsmere Calverton Birchley Fallowfield
Hartsbourne Middlecombe Sedgefold Tewsbury Whitcliffe Lowmarsh
Barrowden Ravensby
""")

# ================================================================ things
OBJECTS = W("""
letter lantern basket key kettle book map coat scarf umbrella bicycle
ladder candle clock bell rope parcel envelope hat boot glove ribbon
bottle jar loaf pie cake apple pear plum cabbage turnip onion potato
teapot cup saucer spoon fork knife plate bowl chair stool lamp mirror
painting photograph ring necklace brooch button needle thimble quilt
blanket pillow wheelbarrow spade rake hammer saw chisel brush bucket
pail net oar anchor compass telescope newspaper notebook pencil pen
inkwell stamp coin purse wallet ticket diary recipe whistle fiddle drum
harmonica kite marble puzzle shawl apron bonnet waistcoat handkerchief
spectacles walking-stick pipe tobacco-tin sack barrel crate box trunk
tray jug ledger almanac hymnbook trowel sickle scythe pitchfork lock
padlock bolt hinge horseshoe bridle saddle harness sieve ladle skillet
churn crock flask tin pincushion scissors wreath bouquet cage locket
medal
thermometer barometer hourglass magnifying-glass penknife corkscrew
nutcracker matchbox snuffbox tinderbox candlestick candle-snuffer
bellows poker tongs coal-scuttle warming-pan washboard mangle bolster
eiderdown tablecloth napkin doily tea-cosy sugar-bowl milk-jug
gravy-boat tureen colander rolling-pin pestle mortar funnel hamper
satchel portmanteau hatbox carpetbag valise cartwheel lantern-hook
fishing-rod lobster-pot creel milking-stool horse-blanket nosebag
whip spur stirrup mallet crowbar pickaxe chain pulley crank lever
spindle bobbin spinning-wheel loom shuttle skein yarn bodkin buckle
cufflink hatpin hairbrush comb razor shaving-mug soap sponge towel
gramophone concertina tambourine banjo flute bugle songbook sketchbook
paintbox easel canvas chessboard draughtboard domino dice rattle
spinning-top hoop doll music-box
""")
FIXTURES = W("""
table bench window door gate fence wall roof chimney step hedge shelf
drawer cupboard dresser stove hearth mantelpiece staircase banister
porch doorstep well pump signpost weathervane sundial clock-tower
""")
NATURE = W("""
tree branch stone pebble shell feather flower rose daisy tulip seed leaf
puddle shadow field road stream pond hillside valley ditch hedgerow
bramble nettle moss ivy willow oak elm chestnut birch meadowsweet
foxglove primrose bluebell heather thistle mushroom acorn
""")
ABSTRACT = W("""
secret promise plan mistake question answer reason idea memory dream
rumour story song joke quarrel bargain wager debt apology warning
complaint favour errand habit suspicion excuse confession
""")
IRREG_PLURAL = {
    "knife": "knives", "shelf": "shelves", "loaf": "loaves", "leaf": "leaves",
    "mouse": "mice", "goose": "geese", "sheep": "sheep", "potato": "potatoes",
    "daisy": "daisies", "diary": "diaries", "story": "stories",
    "puppy": "puppies", "pony": "ponies", "scissors": "scissors",
    "spectacles": "spectacles", "cliffs": "cliffs", "allotments":
    "allotments", "tobacco-tin": "tobacco-tins", "ivy": "ivy", "moss":
    "moss", "heather": "heather", "tinker": "tinkers", "wife": "wives",
}
FOODS = W("""
bread butter cheese jam honey porridge soup stew tea coffee milk cream
gingerbread scones sausages bacon eggs marmalade toffee cider lemonade
biscuits oatcakes pickles dumplings cherries strawberries blackberries
gooseberries rhubarb custard mutton ham pudding treacle barley-water
parsnips kippers crumpets muffins shortbread
walnuts chestnuts apricots damsons quinces mustard pepper nutmeg
cinnamon saffron raisins currants sultanas brawn tripe haddock
herrings cockles mussels watercress radishes beetroot leeks celery
cauliflower sprouts dripping suet lardy-cake seed-cake plum-pudding
elderflower-wine ginger-beer cocoa
""")
COLOURS = W("""
red blue green yellow grey brown black white golden silver crimson pale
rusty amber violet scarlet
""")
OBJ_ADJ = W("""
old new small large heavy light bright dark clean dirty crooked round
square smooth rough sharp blunt broken mended empty full hollow sturdy
fragile faded polished rickety shabby splendid tiny enormous spare
secret forgotten hidden lost borrowed painted carved woollen wooden
iron brass copper leather velvet linen cracked chipped dented battered
shiny rusty damp dusty muddy greasy sticky musty lopsided handsome
ugly plain pretty curious peculiar ordinary expensive cheap precious
worthless stolen unopened torn patched sealed familiar strange ancient
elegant clumsy gleaming tarnished speckled striped spotted chequered
embroidered frayed threadbare moth-eaten water-stained scorched singed
dented warped mouldy creaky squeaky rattling ticking gilded enamelled
lacquered knitted crocheted quilted hand-painted homemade second-hand
brand-new old-fashioned enormous miniature bulky slender delicate
flimsy solid oval oblong triangular curved jagged knobbly wobbly
glossy dull fragrant smelly soggy brittle springy feathery grimy
spotless tattered ornate humble mysterious ridiculous useful useless
valuable beloved abandoned misplaced mislaid unwanted
""")
PLANTS = W("""
tree bramble nettle moss ivy willow oak elm chestnut birch meadowsweet
foxglove primrose bluebell heather thistle hawthorn rosebush
cowslip buttercup dandelion clover bracken fern reed bulrush lilac
laburnum holly yew rowan sycamore hazel alder poplar honeysuckle
""")
NATURE_ADJ = W("""
tall young old wet dry mossy tangled wild crooked thorny pale dark
green bare twisted fallen frozen flooded""")
ADVERBS = W("""
slowly quickly quietly loudly carefully gently suddenly softly briskly
cheerfully sadly patiently eagerly nervously firmly kindly sharply
calmly wearily happily grimly silently absently thoughtfully gravely
warmly coldly politely stiffly proudly shyly boldly anxiously hastily
clumsily steadily secretly reluctantly
awkwardly bravely brightly crossly faintly fondly foolishly gladly
greedily hopefully humbly idly lazily merrily mournfully neatly
noisily peacefully promptly rapidly roughly rudely shrewdly sleepily
smoothly solemnly sternly sweetly tenderly timidly tiredly urgently
vaguely wistfully
""")

# ================================================================ verbs
_VERBS = """
carry lift drop open close mend paint wash scrub polish fold stitch
check watch study borrow return deliver collect fetch find|found
lose|lost bring|brought buy|bought sell|sold keep|kept hold|held
give|gave take|took break|broke hide|hid hang|hung wear|wore
steal|stole weigh measure count wrap unwrap examine inspect oil clean
repair sharpen fill empty label pack unpack bury drag guard admire
darn patch sew iron starch launder dust air shake mop rinse peel chop
slice grate knead roast toast pickle bottle varnish tidy arrange sort
stack polish tie untie fasten unfasten button unbutton lock unlock
wind|wound grind|ground sew rescue pawn auction raffle trade swap
smuggle wrap post mislay|mislaid misplace sniff taste weigh lend|lent
""".split()


def past(b):
    if "|" in b:
        return tuple(b.split("|"))
    if b.endswith("e"):
        return b, b + "d"
    if b.endswith("y") and b[-2] not in "aeiou":
        return b, b[:-1] + "ied"
    if b in ("stop", "tap", "drop", "nod", "stir", "knit", "dig", "plan",
             "drag", "wrap", "unwrap", "pat", "mop", "chop", "swap", "grab", "trip", "rub"):
        return b, b + b[-1] + "ed"
    return b, b + "ed"


TRANS = [past(v) for v in _VERBS]
MOTION = [("walked", "to"), ("wandered", "towards"), ("hurried", "to"),
          ("strolled", "past"), ("ran", "to"), ("rode", "to"),
          ("drove", "to"), ("limped", "back to"), ("trudged", "up to"),
          ("cycled", "to"), ("crept", "into"), ("slipped", "out of"),
          ("marched", "into"), ("came back", "from"), ("set out", "for")]
INTRANS = W("""
laughed sighed waited frowned smiled nodded shrugged coughed listened
hesitated paused whistled hummed yawned shivered blushed wept grumbled
""")
SPEECH = ["said", "replied", "answered", "whispered", "murmured",
          "called", "added", "admitted", "remarked", "insisted",
          "muttered", "declared", "explained", "complained", "observed",
          "said", "said", "said"]
PARTICIPLES = ["seen", "found", "mended", "opened", "finished", "lost",
               "forgotten", "noticed", "written", "sold", "borrowed",
               "painted", "hidden", "broken", "given away", "wrapped",
               "polished", "buried"]
MODAL = ["could not", "would not", "did not", "meant to", "wanted to",
         "tried to", "forgot to", "promised to", "refused to",
         "decided to", "hoped to", "had to"]

TIMES = [
    "In the morning", "At dawn", "Before breakfast", "After supper",
    "That afternoon", "Late in the evening", "On Sunday", "On Monday",
    "On Tuesday", "By Wednesday", "Early on Thursday", "On Friday night",
    "On Saturday", "At noon", "Just before midnight", "At half past six",
    "Some days later", "The next morning", "A week afterwards",
    "All through the winter", "In early spring", "By midsummer",
    "When the harvest came in", "Long after dark", "Towards dusk",
    "Once the rain had stopped", "While the kettle boiled",
    "Before the bells rang", "At the end of the month", "That autumn",
    "On the last day of May", "In the middle of the night",
    "For a little while", "Every Thursday", "Now and then",
    "On market day", "The day before the fair", "At a quarter to nine",
    "In the dead of winter", "Shortly after lunch", "By the time of the "
    "wedding", "On Christmas Eve", "Three years ago", "In those days",
]
WEATHER = [
    "a thin rain", "the fog", "a cold wind", "the first snow", "a storm",
    "the sunlight", "a heavy mist", "the frost", "a warm breeze",
    "the thunder", "a sudden hail", "the drizzle", "the dusk",
    "the moonlight", "a grey sky",
]
WEATHER_VERB = ["drifted", "settled", "rolled", "crept", "blew", "hung",
                "swept", "lingered", "fell", "spread"]
NUMBERS = W("""
two three four five six seven eight nine ten eleven twelve fifteen
twenty thirty forty fifty
""")
DIGITS = ["3", "4", "7", "9", "12", "14", "17", "21", "25", "30", "42",
          "64", "100", "150", "1,200", "2,500"]
MONEY = ["a shilling", "two shillings", "sixpence", "a penny", "ninepence",
         "half a crown", "three pounds", "a guinea", "fourpence",
         "eleven shillings", "a farthing", "two pounds ten"]
YEARS = ["1881", "1889", "1892", "1897", "1901", "1904", "1910", "1913"]

# ================================================================ helpers


A_WORDS = ("use", "uni", "usu", "one", "eur")
AN_WORDS = ("hour", "honest", "heir")


def article(w):
    lw = w.lower()
    vowel = lw[0] in "aeiou"
    if lw.startswith(A_WORDS):
        vowel = False
    elif lw.startswith(AN_WORDS):
        vowel = True
    return ("an " if vowel else "a ") + w


def plural(n):
    n = n.replace("-", " ") if n in ("walking-stick",) else n
    last = n.split()[-1]
    head = n[: len(n) - len(last)]
    if last in IRREG_PLURAL:
        return head + IRREG_PLURAL[last]
    if last.endswith(("s", "x", "ch", "sh")):
        return head + last + "es"
    if last.endswith("y") and last[-2] not in "aeiou":
        return head + last[:-1] + "ies"
    if last.endswith("f"):
        return head + last[:-1] + "ves"
    return head + last + "s"


def clean(w):
    """Word-list entries use '-' to join multi-word nouns; print spaces."""
    return w.replace("-", " ")


FOODS = [clean(x) for x in FOODS]
PROFESSIONS = [clean(x) for x in PROFESSIONS]


def cap(s):
    return s[0].upper() + s[1:]


POSS = ["his", "her", "their", "my", "our", "the", "the", "the", "the"]


def named():
    r = rng.random()
    if r < 0.45:
        t = pick(TITLES)
        if t == "Old":
            return "Old " + pick(FIRST + SURNAMES)
        return t + " " + pick(SURNAMES)
    if r < 0.85:
        return pick(FIRST)
    return pick(FIRST) + " " + pick(SURNAMES)


def person(allow_desc=True):
    r = rng.random()
    if r < 0.7 or not allow_desc:
        return named()
    if r < 0.8:
        return "the " + pick(PROFESSIONS)
    if r < 0.88:
        return "the " + pick(PERSON_ADJ) + " " + pick(PROFESSIONS)
    if r < 0.95:
        return pick(["his", "her", "their"]) + " " + pick(KIN)
    return named() + "'s " + pick(KIN)


def subject():
    if chance(0.22):
        return pick(["he", "she", "they", "she", "he", "we", "I"])
    return person()


def obj_np(adj_p=0.45, det=None):
    n = clean(pick(OBJECTS))
    if chance(adj_p):
        n = (pick(OBJ_ADJ) if chance(0.8) else pick(COLOURS)) + " " + n
    d = det or pick(["the", "the", "a", "a", "POSS"])
    if d == "a":
        return article(n)
    if d == "POSS":
        return pick(POSS[:5]) + " " + n
    return "the " + n


def obj_nps():
    n = plural(clean(pick(OBJECTS)))
    if chance(0.4):
        n = pick(OBJ_ADJ) + " " + n
    return (pick(NUMBERS) + " " if chance(0.5) else
            pick(["some ", "a few ", "several ", "all the ", "the "])) + n


def nature_np():
    n = pick(NATURE)
    if chance(0.5):
        n = pick(NATURE_ADJ) + " " + n
    return "the " + n


def place():
    r = rng.random()
    if r < 0.12:
        return pick(TOWNS)
    if r < 0.18:
        return pick(INN_NAMES)
    p = pick(PLACES)
    p = clean(PLACE_FIX.get(p, p))
    if chance(0.15):
        return "the " + pick(PLACE_ADJ) + " " + p
    if chance(0.1):
        return named() + "'s " + p
    return "the " + p


def prep_place():
    p = place()
    if p[0].isupper() and not p.startswith("the"):
        pre = pick(["in", "near", "outside", "beyond", "on the road to"])
    else:
        pre = pick(["at", "near", "behind", "beside", "outside", "inside",
                    "across", "past", "by", "in front of", "at the back of",
                    "round the corner from", "not far from"])
    return pre + " " + p


def pron_obj(s):
    return {"he": "him", "she": "her", "they": "them", "we": "us",
            "I": "me"}.get(s, s)


def be(s):
    return "were" if s in ("they", "we") else "was"


RELATIVE = [
    "that had belonged to {P}", "which nobody had used for years",
    "that {P} had given {O}", "which smelled of {F}",
    "that had come all the way from {T}", "which hung {PP}",
    "that {P} had mended twice", "which had been in the family since {Y}",
]


def relative(objpron="her"):
    return pick(RELATIVE).format(P=person(), O=objpron, F=pick(FOODS),
                                 T=pick(TOWNS), PP=prep_place(),
                                 Y=pick(YEARS))


# ================================================================ clauses


def clause():
    s = subject()
    r = rng.random()
    if r < 0.28:
        b, p = pick(TRANS)
        out = f"{s} {p} {obj_np()}"
        if chance(0.45):
            out += " " + prep_place()
    elif r < 0.45:
        v, pre = pick(MOTION)
        out = f"{s} {v} {pre} {place()}"
        if chance(0.3):
            out += " " + pick(ADVERBS)
    elif r < 0.58:
        out = f"{s} {be(s)} {pick(FEELINGS)}"
        if chance(0.5):
            out += " " + pick(["about", "because of"]) + " " + pick(
                [obj_np(), "the " + pick(ABSTRACT)])
    elif r < 0.7:
        out = "{} {} {} {}".format(s, pick(["had", "had already", "had never",
                                        "had not yet"]),
                               pick(PARTICIPLES), obj_np())
    elif r < 0.8:
        b, p = pick(TRANS)
        out = f"{s} {pick(MODAL)} {b} {obj_np()}"
    elif r < 0.9:
        out = f"{s} {pick(INTRANS)}"
        if chance(0.5):
            out += " " + pick(ADVERBS)
    else:
        out = "{} {} {}".format(s, pick(["kept", "told", "forgot", "heard",
                                     "believed", "doubted", "repeated"]),
                            pick(["the " + pick(ABSTRACT),
                                  article(pick(ABSTRACT))]))
        if chance(0.4):
            out += " about " + person()
    return out


SUBORD = ["because", "although", "while", "when", "after", "before",
          "until", "since", "as soon as", "even though", "if", "unless",
          "whenever", "once"]


# ================================================================ sentences

def s_action():
    s = subject()
    b, p = pick(TRANS)
    body = f"{s} {p} {obj_np()}"
    if chance(0.25):
        body += " " + relative("her" if chance(0.5) else "him")
    elif chance(0.5):
        body += " " + prep_place()
    if chance(0.25):
        body += " " + pick(ADVERBS)
    if chance(0.25):
        body += " and " + pick(["went home", "sat down", "said nothing",
                                "laughed", "looked away", "left at once",
                                "waited", "began to whistle", "felt better",
                                "went back to work", "put the kettle on",
                                "shut the door behind " + pron_obj(s)
                                if s in ("he", "she", "they", "we", "I")
                                else "shut the door"])
    if chance(0.4):
        body = pick(TIMES) + ", " + body
    return cap(body) + "."


def s_describe():
    r = rng.random()
    if r < 0.2:
        return f"The {clean(pick(OBJECTS))} {prep_place()} was {pick(OBJ_ADJ)} and {pick(OBJ_ADJ)}."
    if r < 0.4:
        return (f"{cap(place())} was {pick(PLACE_ADJ)}, {pick(PLACE_ADJ)}, "
                f"and a little {pick(PLACE_ADJ)}.")
    if r < 0.55:
        return "There {} {} {}.".format(
            pick(["was", "stood", "lay", "hung"]), obj_np(0.8, "a"),
            prep_place())
    if r < 0.7:
        return "Along {} grew {} and {}.".format(
            place(), *[plural(x) for x in rng.sample(PLANTS, 2)])
    if r < 0.85:
        return "{} was {} with {}.".format(
            cap(named()), article(pick(PERSON_ADJ) + " " + pick(
                PROFESSIONS + ["man", "woman"])),
            pick(["hands like " + article(pick(PROFESSIONS)),
                  "a voice like " + article(pick(["kettle", "church bell",
                                                  "creaking gate",
                                                  "rusty hinge",
                                                  "old fiddle"])),
                  "a habit of humming", "no patience for "
                  + plural(clean(pick(OBJECTS))),
                  "a fondness for " + pick(FOODS),
                  "an old " + pick(ANIMALS) + " called " + pick(FIRST),
                  pick(NUMBERS) + " children and a bad knee",
                  "a " + pick(COLOURS) + " " + pick(["scarf", "coat",
                                                      "bonnet", "waistcoat"])
                  + " that never came off"]))
    return "{}'s {} was {}, and {} {} was {}.".format(
        cap(named()), pick(PLACES[:30]).replace("-", " "), pick(PLACE_ADJ),
        pick(["the", "its"]), pick(FIXTURES), pick(OBJ_ADJ))


def s_complex():
    a, b = clause(), clause()
    if chance(0.5):
        return cap(pick(SUBORD) + " " + a + ", " + b) + "."
    return cap(a + " " + pick(SUBORD) + " " + b) + "."


def s_semicolon():
    return cap(clause()) + "; " + pick(
        ["", "", "", "however, ", "still, ", "besides, ", "even so, ",
         "meanwhile, ", "otherwise, ", "after all, "]) + clause() + "."


def s_compound():
    return cap(clause()) + ", " + pick(["and", "but", "so", "yet",
                                        "and then"]) + " " + clause() + "."


LINES = [
    "I told you it would rain", "Nobody ever listens to me",
    "We shall have to start again", "It is not as simple as that",
    "You will catch your death out there", "The {n} is {p}",
    "I left the {n} {pp}", "There is no such thing as {aan}",
    "I have never seen so many {ns}", "Mind the {n}, it is {a}",
    "Bring me the {n}, if you please", "That {n} belongs to {P}",
    "We ought to ask {P}", "It cost me {m}",
    "I shall be back by {h} o'clock", "Put it down by the {fx}",
    "You look {f}", "The {an} has got out again",
    "Someone has taken my {n}", "I am far too {f} to argue",
    "Let us go to {pl} before it gets dark", "I heard it from {P}",
    "Half the village knows already", "Leave it until the morning",
    "My {k} always said so", "Tell {P} I shall not wait",
    "The train from {T} is late again", "It will all come out at the fair",
    "I would not trust {P} with {a_n}", "There is {fo} in the pantry",
    "I have {h} {ns} and not one of them works",
    "It is the {an}, not the {n}", "Go and fetch {P}",
]
QUESTIONS = [
    "Where did you find the {n}", "Have you seen {P}",
    "What will you do with all those {ns}", "Why is the {n} so {a}",
    "Who left the gate open", "Is it true about {P}",
    "How many {ns} do we need", "Shall we walk to {pl}",
    "Did you remember the {n}", "What time does the train leave",
    "Would you like some {fo}", "Can you mend the {n} by Friday",
    "Was that {P} at the door", "When did the {an} get out",
    "Do you think it will snow", "Whose {n} is this",
    "Are you quite sure", "What on earth is that noise",
    "Has your {k} come home yet", "Is there any {fo} left",
    "What did {P} say", "How much is the {n}",
]
EXCLAIMS = [
    "What {aan}", "Good heavens", "Look at the {an}", "Mind your step",
    "Oh, the {n}", "Not again", "Splendid", "Come quickly",
    "How {a} it is", "Stop that {an}", "Well, I never",
    "There it is at last", "Run", "Somebody fetch {P}", "My {n}",
]


def fill(t):
    return t.format(
        n=clean(pick(OBJECTS)), ns=plural(clean(pick(OBJECTS))),
        a=pick(OBJ_ADJ), fx=pick(FIXTURES),
        p=pick(["missing", "broken", "in the shed", "on the shelf",
                "under the stairs", "at the mill", "still unpaid",
                "not for sale", "older than you are"]),
        pp=prep_place(), P=person(), m=pick(MONEY),
        h=pick(["four", "five", "six", "seven", "eight", "nine", "ten"]),
        f=pick(FEELINGS), an=pick(ANIMALS), pl=place(), fo=pick(FOODS),
        k=pick(KIN), T=pick(TOWNS),
        aan=article(pick(OBJ_ADJ) + " " + clean(pick(OBJECTS))),
        a_n=article(clean(pick(OBJECTS))))


def s_dialogue():
    r = rng.random()
    who = person()
    if r < 0.35:
        line = fill(pick(LINES))
        tag = pick(SPEECH)
        extra = " " + pick(ADVERBS) if chance(0.35) else ""
        if chance(0.5) and not who[0].islower():
            return f'"{line}," {tag} {who}{extra}.'
        return f'"{line}," {who} {tag}{extra}.'
    if r < 0.58:
        q = fill(pick(QUESTIONS))
        if chance(0.5):
            return f'"{q}?" asked {who}.'
        return '{} {}, "{}?"'.format(cap(who), pick(["asked", "wondered aloud",
                                                   "demanded", "inquired"]), q)
    if r < 0.74:
        e = fill(pick(EXCLAIMS))
        return '"{}!" {} {}.'.format(e, pick(["cried", "shouted", "exclaimed",
                                          "gasped", "laughed"]), who)
    if r < 0.88:
        l1, l2 = fill(pick(LINES)), fill(pick(LINES))
        return f'"{l1}," {pick(SPEECH)} {who}. "{l2}."'
    return '{} {} that {}.'.format(cap(who), pick(["said", "told us", "swore",
                                               "claimed", "wrote",
                                               "let slip"]), clause())


def s_question():
    r = rng.random()
    if r < 0.3:
        return "Had anyone seen {} since {}?".format(
            obj_np(), pick(["Tuesday", "the fair", "the storm", "breakfast",
                            "the wedding", "last spring", "the flood"]))
    if r < 0.55:
        return "Why had {} {} {}?".format(
            person(), pick(["hidden", "sold", "painted", "borrowed",
                            "mended", "burned", "kept", "buried"]), obj_np())
    if r < 0.75:
        return "What would {} say when {} heard about the {}?".format(
            person(), pick(["she", "he", "they"]), pick(ABSTRACT))
    return "Who could have {} {} {}?".format(
        pick(["left", "dropped", "forgotten", "buried"]), obj_np(),
        prep_place())


def s_exclaim():
    r = rng.random()
    if r < 0.35:
        return "What {} it was!".format(article(pick(OBJ_ADJ) + " "
                                           + clean(pick(OBJECTS))))
    if r < 0.6:
        return "How {} {} looked {}!".format(pick(PLACE_ADJ), place(),
                                         pick(["that morning", "in the rain",
                                               "by lamplight", "in June"]))
    return "{}!".format(pick(["And then the bell rang", "Nobody had expected that",
                         "It was gone", "The whole village came running",
                         "Even the " + pick(ANIMALS) + " was astonished",
                         "There was no sign of " + person(),
                         "It was " + pick(NUMBERS) + " miles to "
                         + pick(TOWNS), "Such a fuss over " + obj_np()]))


def s_numbers():
    r = rng.random()
    if r < 0.3:
        return (f"There were {pick(NUMBERS)} {plural(clean(pick(OBJECTS)))} {prep_place()}, "
                f"and {pick(NUMBERS)} more {prep_place()}.")
    if r < 0.55:
        return (f"{cap(person())} paid {pick(MONEY)} for {obj_np()} "
                f"and {pick(MONEY)} for {obj_np()}.")
    if r < 0.75:
        return "In {} the {} {} was already {} years old.".format(
            pick(YEARS), pick(FIXTURES), prep_place(),
            pick(["12", "40", "64", "100", "150", "200"]))
    return (f"The {pick(PROFESSIONS)} counted {pick(DIGITS)} {plural(clean(pick(OBJECTS)))}, "
            f"then {pick(DIGITS)}, then {pick(DIGITS)}.")


def s_weather():
    s = f"{cap(pick(WEATHER))} {pick(WEATHER_VERB)} over {place()}"
    if chance(0.55):
        s += ", and " + pick(["the " + plural(pick(ANIMALS)) + " sheltered "
                              + prep_place(),
                              "the windows of the " + pick(PROFESSIONS)
                              + "'s house turned " + pick(COLOURS),
                              "nobody went out",
                              "the smell of " + pick(FOODS) + " came from "
                              + place(),
                              nature_np() + " " + pick(["bent", "dripped",
                                                        "shook", "creaked"])
                              + " " + pick(ADVERBS)])
    return s + "."


def s_list():
    items = [pick(FOODS) if chance(0.5) else obj_np(0.3) for _ in range(3)]
    return "{} {} {}, {}, and {} {}.".format(
        cap(subject()), pick(["bought", "carried", "packed", "wanted",
                              "forgot", "found", "ordered"]),
        items[0], items[1], items[2], prep_place())


def s_thought():
    return "{} {} {}, of {}, and of {} {}.".format(
        cap(person()), pick(["thought of", "dreamed of", "spoke of",
                             "was reminded of"]),
        pick([obj_np(), "the " + pick(ABSTRACT), place()]),
        pick(FOODS) if chance(0.5) else obj_np(),
        pick(["the day", "the night", "the summer", "the winter"]),
        pick(["the " + pick(ANIMALS) + " ran away",
              "the river froze", person() + " came home",
              "the mill burned down", "the fair came to " + pick(TOWNS),
              "they first met", "the roof fell in",
              "the " + pick(FIXTURES) + " collapsed"]))


def s_animal():
    a = pick(ANIMALS)
    return "{} {} {} {}.".format(
        pick(["The", "The", named() + "'s"]) + " "
        + (pick(["old", "young", "fat", "grey", "black", "lame", "sleek"])
           + " " + a if chance(0.5) else a),
        pick(["slept", "waited", "hid", "dozed", "sat", "watched",
              "shivered", "scratched about", "wandered", "lay"]),
        prep_place(), pick(ADVERBS) if chance(0.5) else "all day")


def s_nature():
    n = pick(PLANTS)
    if chance(0.5):
        n = pick(NATURE_ADJ) + " " + n
    return "{} {} {}{}.".format(
        "The " + n, pick(["leaned over", "grew beside", "hid",
                                "shaded", "covered", "marked the way to",
                                "stood at the edge of"]),
        place(), pick(["", "", ", as it had for years",
                       ", just as " + named() + " remembered"]))


GENERATORS = [
    (s_action, 14), (s_describe, 10), (s_complex, 12), (s_semicolon, 5),
    (s_compound, 8), (s_dialogue, 18), (s_question, 4), (s_exclaim, 3),
    (s_numbers, 4), (s_weather, 5), (s_list, 4), (s_thought, 3),
    (s_animal, 4), (s_nature, 3),
]
_FUNCS = [g for g, _ in GENERATORS]
_WEIGHTS = [w for _, w in GENERATORS]


def sentence():
    return rng.choices(_FUNCS, _WEIGHTS)[0]()


def main():
    paragraphs = []
    total = 0
    while total < N_SENTENCES:
        k = rng.randint(3, 8)
        sents = [sentence() for _ in range(k)]
        total += k
        paragraphs.append(textwrap.fill(" ".join(sents), width=WIDTH))
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n\n".join(paragraphs) + "\n")
    print(f"wrote {OUT}: {len(paragraphs)} paragraphs, {total} sentences")


if __name__ == "__main__":
    main()
