"""The structural patterns and word lists the classifier reads, beside its keyword vocabulary.

The keyword cues (named, weighted words and phrases per task) are data: `vocabulary/*.yaml`,
read by `_classify_vocabulary` and indexed by `_classify_index`. What stays here is what the
scoring in `classify` reads with code of its own: the shape of code, stack traces, SQL, option
lists, numbers, speakers, field names, and the word lists for questions, follow-ups and small
talk. Each pattern is bounded so no input makes it quadratic, and several are spelled so that
`re` can skip ahead to the character they need (`tests/unit/test_classify_fast_paths.py` checks
them against their plain spellings).
"""

from __future__ import annotations

import re

# Structure, read in the original case. Substring tests (`in`, `str.count`) gate the patterns:
# they run at C speed, while a pattern with many branches is tried at every position.
CODE_FENCE = re.compile(r"```([\w+#.-]*)[^\n]*\n?([\s\S]*?)(?:```|\Z)")
# A line of code, judged line by line (see `classify._line_shapes`).
CODE_LINE_STARTS = (
    "def ", "class ", "import ", "from ", "function", "const ", "let ", "var ", "return",
    "#include", "public ", "private ", "static ", "func ", "package ", "fn ", "impl ", "struct ",
    "async ", "await ", "console.", "print(", "printf", "System.out", "//", "/*", "$ ", "sudo ",
    "SELECT ", "INSERT ", "UPDATE ", "CREATE ", "DELETE FROM", "for (", "while (", "if (",
    "elif ", "else:", "else {", "} else", "try:", "try {", "except", "catch", "#!/",
)
CODE_LINE_ENDS = (";", "{", "}", "=> {")
PYTHON_BLOCK_STARTS = ("for ", "if ", "while ", "with ", "elif ", "else", "try", "except", "def ", "class ")
METHOD_CALL = re.compile(r"\.[A-Za-z_]\w*+\(")
CODE_OPERATORS = (":=", "=>", "==", "!=", "+=", "->", "::", "();", "&&", "||")
# (The word character is a look-behind so that `re` can skip ahead to an "E".)
TRACE_ERROR = re.compile(r"(?<=\w)(?:Error|Exception): ")
STACK_TRACE_LITERALS = (
    "Traceback (most recent call last)", "panic: ", "Segmentation fault",
    "npm ERR!", "error[E", "Uncaught ", "exit code ", "Exception in thread", "errno",
)
STACK_FRAME = re.compile(r"^[ \t]+at [\w.$<>]+\(.*:\d+\)|File \".+\", line \d+", re.MULTILINE)
SQL_SYNTAX = re.compile(
    r"\bSELECT\b[\s\S]{1,300}?\bFROM\b|\b(?:INNER|LEFT|RIGHT|OUTER) JOIN\b|\bGROUP BY\b"
    r"|\bCREATE TABLE\b|\bINSERT INTO\b|\bselect [\w*., ]{1,80} from \w+(?: where| join| group|;)"
)
SQL_HINTS = ("SELECT", "JOIN", "GROUP BY", "CREATE TABLE", "INSERT INTO", "select ")
# "orders(id, customer_id, amount)": a table or a signature; the name before "(" is checked apart.
SCHEMA_DEF = re.compile(r"\((?:\s*\w++\s*,){2,}\s*\w++\s*\)")
SHELL_LITERALS = ("apt-get ", "pip install", "npm install", "kubectl ", "docker run", "chmod ", "grep -", "\n$ ")
# Maths: symbols and notation (few, so one cheap pattern), and arithmetic between numbers.
# (`[∫∑√≤≥≠∞π²³]|\\(?:frac|sqrt|int|sum)|\^\d|f\(x\)`, led by the set of first characters so that `re`
# can skip ahead to one; it matches wherever that plain alternation does.)
MATH_NOTATION = re.compile(r"[∫∑√≤≥≠∞π²³\\^f](?:(?<=[∫∑√≤≥≠∞π²³])|(?<=\\)(?:frac|sqrt|int|sum)|(?<=\^)\d|(?<=f)\(x\))")
# (`\d ?[+*×÷^=] ?\d|\d [-/] \d|[xy] ?[+=] ?\d|[xy] - \d`, led by its first character, as MATH_NOTATION.)
ARITHMETIC = re.compile(r"[\dxy](?:(?<=\d) ?[+*×÷^=] ?\d|(?<=\d) [-/] \d|(?<=[xy]) ?[+=] ?\d|(?<=[xy]) - \d)")
# Numbers in the text, but not list markers such as "1." or "2)"; number words are counted apart.
# (`(?<![\w.])\d+(?:[.,:]\d+)*(?![.)](?:\s|$))` with its first digit put in front and the look-behind
# after it, so that `re` can skip ahead to a digit: the same matches.)
NUMBER = re.compile(r"\d(?<![\w.]\d)\d*(?:[.,:]\d+)*(?![.)](?:\s|$))")
NUMBER_WORDS = frozenset(
    {
        "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "twenty", "hundred", "thousand", "twice", "half", "double", "triple",
    }
)
# Quantities with units ("a 3-gallon jug", "60 km"): two or more make a word problem.
# (The first digit in front and the look-behind after it, as NUMBER.)
UNIT_QUANTITY = re.compile(
    r"\d(?<![\d.,]\d)\d*+(?:[.,]\d++)?[- ]?(?:gallons?|litres?|liters?|kg|kilograms?|grams?|pounds?|lbs?|meters?"
    r"|metres?|km|kilometers?|miles?|hours?|minutes?|seconds?|days?|weeks?|cm|mm|m²|km/h|mph|%)(?!\w)"
)
# The vocabulary of constraint puzzles and syllogisms.
LOGIC_WORDS = frozenset(
    {
        "before", "after", "exactly", "neither", "either", "every", "none", "must", "cannot",
        "wrong", "lies", "liar", "truth", "first", "last", "immediately", "older", "younger",
        "taller", "shorter", "heavier", "lighter", "faster", "slower", "without", "always", "never",
        "unless", "otherwise", "all", "some", "definitely", "necessarily", "therefore", "implies",
        "follows", "conclude", "conclusion", "premise", "premises", "valid",
    }
)
LOGIC_PHRASES = (
    "at least", "at most", "only if", "no two", "left of", "right of", "next to", "more than",
    "less than", "fewer than", "can't",
)
# "A, B or C": the label set of a classification. Gated on a comma and an "or" word.
# Its two forms are tried apart, each only where the text has what it needs (", " or "?").
CHOICE_SERIES = re.compile(
    r"\b(?:[\w-]++(?: [\w-]++){0,3}, )++(?:[\w-]++(?: [\w-]++){0,3}? )?(?:or|oder|ou|o|или|or maybe) [\w-]"
)
CHOICE_QUESTION = re.compile(r"\b[\w-]++(?: [\w-]++){0,2},? (?:or|oder|ou|o|или) [\w-]++(?= ?\?)")
CHOICE_WORDS = (" or ", " oder ", " ou ", " o ", " или ")
SLASH_OPTIONS = re.compile(
    r"(?<![\w./:\-])[a-z][\w-]*(?: / |/)[a-z][\w-]*(?: / |/)[a-z][\w-]*(?![\w/.])"
)
CAPS_LABELS = re.compile(r"\b[A-Z][A-Z_]{2,}\b(?:\s*(?:,|/|\||or)\s*\b[A-Z][A-Z_]{2,}\b){2,}")
PIPE_OPTIONS = re.compile(r"[\w\"']+ ?\| ?[\"']?\w+[\"']? ?\| ?[\"']?\w")
CAPS_PAIR = re.compile(r"\(\s*[A-Z][A-Z_]{1,}\s*(?:/|\||or|,)\s*[A-Z][A-Z_]{1,}\s*\)")
KEY_VALUE_LINE = re.compile(r"[ \t]*[\w .#/()-]{1,25}:[ \t]*\S.{0,60}$")
SPEAKER_LINE = re.compile(r"[ \t]*([A-Z][\w.'-]{0,20}(?: [A-Z][\w.'-]{0,20})?):[ \t]+\S.{14,}$")
# Labels of form fields and headers, which look like speakers ("Name: ...") but are not.
FIELD_LABELS = frozenset(
    {
        "Name", "Title", "Date", "By", "From", "To", "Subject", "Cc", "Bcc", "Email", "E-mail", "Phone", "Tel",
        "Address", "Total", "Subtotal", "Tax", "Note", "Notes", "Re", "Status", "Priority", "Type", "ID", "Time",
        "Location", "Price", "Qty", "Item", "Items", "Description", "Summary", "Step", "Steps", "Error", "Warning",
        "Info", "Debug", "Reported by", "Environment", "Expected", "Actual", "Carrier", "Tracking", "Flight",
        "Depart", "Arrive", "Seat", "Baggage", "Passenger", "Guest", "Hotel", "Room", "Check-in", "Check-out",
        "Issued", "Bill to", "Website", "Company", "Role", "Salary", "Duration", "Deadline", "Amount", "Due",
    }
)
# Dates, times and IP addresses; emails and amounts are counted by their symbols.
# (`\d{1,4}[/:-]\d{1,2}(?:[/:-]\d{1,4})?|\d{1,2}\.\d{1,2}\.\d{2,4}` with the first digit taken out in
# front: the same matches, but `re` can then skip ahead to the next digit instead of trying every position.)
DATE_LIKE = re.compile(r"\d(?:\d{0,3}[/:-]\d{1,2}(?:[/:-]\d{1,4})?|\d?\.\d{1,2}\.\d{2,4})")
ENTITY_SYMBOLS = "@$€£¥"
# Whether an instruction points at text it comes with ("summarize this:", "from the log below").
DEICTIC = re.compile(
    r"\b(?:this|these|that|those|below|above|following|here|attached|pasted|text|article|email"
    r"|thread|transcript|document|review|log|message|passage|paragraph|excerpt|snippet|code"
    r"|ce|cet|cette|ces|ci-dessous|suivante?s?|este|esta|esto|estos|siguientes?|folgenden?"
    r"|diese[nmrs]?|questo|questa|seguinte|этот|эту|это|следующ\w*|ниже)\b"
    r"|[:：]\s*$|以下|下面|这|此|この|以下の|次の|다음"
)
# A quoted passage on one line: the data a request is about, not part of the request.
QUOTED = re.compile(
    r'"[^"\n]{20,600}"|“[^”“\n]{20,600}”|«[^»«\n]{20,600}»|„[^“”„\n]{20,600}[“”]|「[^」「\n]{20,600}」'
)
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
# Questions asking for a fact (who, what, when...), in several languages.
WH_WORDS = frozenset(
    {
        "who", "what", "when", "where", "which", "qui", "quand", "où", "combien", "quel", "quelle",
        "quels", "quelles", "qué", "quién", "cuándo", "dónde", "cuál", "cuánto", "cuántos", "wer",
        "wann", "wo", "welche", "welcher", "welches", "welchen", "кто", "когда", "где", "какой",
        "сколько",
    }
)
WH_PHRASES = ("how much", "how many", "wie viel", "谁", "什么", "何时", "哪", "多少", "誰", "いつ", "どこ", "いくら")
WH_GIST = re.compile(
    r"\bwhy\b|\bhow (?:do|does|can|could|would|should)\b|\bwhat would\b"
    r"|\bwhat (?:should|would|do|can) (?:i|you|we)\b|\bwhat do you think\b"
)
# A yes/no question about pasted text; "can you...", "could you..." are requests, not questions.
YES_NO_QUESTION = re.compile(
    r"^\W*(?:is|are|does|do|did|was|were|has|have)\b|^\W*(?:can|could|would) (?!you\b|u\b|i\b|we\b)"
)
FOLLOW_UP = re.compile(
    r"^\W*(?:now|also|and|but|ok(?:ay)?|great|cool|nice|perfect|right|so|then|what about|how about"
    r"|same|again|instead|one more|another|make it|make them|can you (?:also|now|make)"
    r"|could you (?:also|now|make)|do the same|try again|more|less|shorter|longer"
    r"|maintenant|et|ahora|y|jetzt|und|e|и|а|现在|那|再|もっと|じゃあ|그럼|이제)\b"
    r"|\b(?:it|this|that|them|those|ones?)\s*[?.!]*\s*$"
)
# A last turn made only of these tokens is small talk, whatever came before it.
SMALL_TALK_TOKENS = frozenset(
    {
        "thanks", "thank", "you", "thx", "ty", "tysm", "a", "lot", "so", "much", "very", "great", "perfect",
        "awesome", "cool", "nice", "ok", "okay", "got", "it", "bye", "goodbye", "good", "night", "morning", "evening",
        "that", "helps", "helped", "works", "worked", "lol", "haha", "hi", "hello", "hey", "there", "how", "s",
        "going", "are", "doing", "what", "up", "yo", "cheers", "amazing", "wonderful", "excellent", "appreciate",
        "appreciated", "the", "help", "love", "brilliant", "sweet", "super", "fantastic", "really", "again", "man",
        "mate", "merci", "beaucoup", "bien", "gracias", "muchas", "vale", "danke", "schön", "sehr", "gut", "grazie",
        "mille", "obrigado", "obrigada", "спасибо", "большое", "пока", "привет", "lovely", "beautiful", "exactly",
        "needed", "i", "was", "is", "this", "helpful", "useful", "job", "well", "done", "all", "for", "your",
        "everything", "understand", "see", "makes", "sense", "ah", "oh", "wow", "yes", "yeah", "yep", "sure",
        "alright", "fine", "glad", "just", "thankyou", "thanx", "many", "d", "ll", "funny", "hilarious", "lmao",
        "hahaha", "interesting", "true", "indeed", "agreed", "right", "cute", "ha", "omg", "neat", "okie", "k", "kk",
        "np", "no", "problem", "worries", "ciao", "adios", "tschüss", "à", "plus", "bientôt", "de", "nada", "rien",
        "bitte", "prego", "di", "niente",
        "谢谢", "谢谢你", "多谢", "好的", "明白了", "ありがとう", "ありがとうございます",
        "どうも", "감사합니다", "고마워요", "고마워",
    }
)
WORD = re.compile(r"\w+")
THANKS_OPENER = re.compile(
    r"^\W*(?:thanks|thank you|thx|ty|cheers|great|perfect|awesome|cool|nice|ok(?:ay)?|got it|merci"
    r"|gracias|danke|grazie|obrigad[oa]|спасибо|谢谢|多谢|ありがとう|감사|고마워)\b"
)
# Things people ask to have pulled out of a text; two or more named in a request suggest Extraction.
FIELD_NOUNS = frozenset(
    {
        "name", "names", "date", "dates", "deadline", "deadlines", "amount", "amounts", "total",
        "totals", "price", "prices", "cost", "costs", "quantity", "quantities", "address",
        "addresses", "email", "emails", "phone", "phones", "number", "numbers", "id", "ids", "sku",
        "skus", "url", "urls", "title", "titles", "role", "roles", "company", "companies",
        "organization", "organizations", "organisation", "organisations", "people", "person",
        "persons", "location", "locations", "place", "places", "time", "times", "duration",
        "durations", "owner", "owners", "author", "authors", "ingredients", "seat", "seats",
        "flight", "flights", "invoice", "currency", "vendor", "merchant", "age", "birthday",
        "birthdays", "salary", "salaries", "fee", "fees", "period", "periods", "count", "counts",
        "dosage", "dosages", "rate", "rates", "terms", "weight", "weights", "rating", "ratings",
        "size", "sizes", "color", "colors", "colour", "colours", "dimensions", "capacity", "model",
        "models", "brand", "brands", "status", "version", "versions", "year", "years", "ticker",
        "tickers", "symbol", "symbols", "code", "codes", "ip", "ips", "percentage", "percentages", "reference",
        "references", "ref", "booking", "confirmation",
        "nombre", "nombres", "fecha", "fechas", "importe", "importes", "dirección", "direccion",
        "montant", "montants", "adresse", "datum", "betrag", "namen",
    }
)
CJK_FIELD_NOUNS = (
    "姓名", "名字", "日期", "金额", "地址", "电话", "邮箱", "名前", "日付", "金額", "住所", "電話",
    "이름", "날짜", "금액", "주소",
)


# Latin words inside CJK text have no word boundary ("用JavaScript写"): space them apart.
CJK_LATIN_SEAM = re.compile(
    r"(?<=[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uff00-\uffef])(?=[a-z0-9])"
    r"|(?<=[a-z0-9])(?=[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uff00-\uffef])"
)
HAS_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
