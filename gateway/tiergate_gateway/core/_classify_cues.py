"""The classifier's cue vocabulary and the structural patterns it reads.

Kept apart from the scoring in `classify` so the vocabulary can grow (a language, a phrasing)
without touching how scores combine, and apart from `_classify_index`, which compiles it. Two
parts, in this order:

- `KEYWORD_CUES`: named, weighted patterns per task type. Every cue has a short stable name
  that shows up in `Classification.cues`; variants of one idea in several languages share a
  name, so French "résume" and English "summarize" both explain themselves as `kw:summarize`.
  Patterns run over lower-cased text. Each top-level alternative must start at a word
  boundary (`\\b` then at least two literal letters), at a CJK character, or at `^`, so that
  `_classify_index` can weave it into its scanner; `build_scanner` refuses anything else. No
  capturing groups. Proximity cues ("write ... poem") check the rest of the phrase with a
  look-ahead.
- Structural patterns and word lists read by `classify` (code shape, stack traces, option
  lists, numbers, speakers, field names...), each bounded so no input makes them quadratic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tiergate_api.enums import Task

C, S, E, K, R, W, H = (
    Task.CLASSIFICATION,
    Task.SUMMARIZATION,
    Task.EXTRACTION,
    Task.CODE_GENERATION,
    Task.REASONING,
    Task.CREATIVE_WRITING,
    Task.CHAT,
)


@dataclass(frozen=True, slots=True)
class Cue:
    """One piece of evidence for a task: where it fires, how much it counts."""

    name: str
    task: Task
    weight: float
    pattern: str


# "Up to a few words later": keeps proximity cues local without a parser.
_NEAR = r"(?:\W+\w+){0,5}?\W+"
_WRITE = (
    r"(?:write|writing|draft|compose|pen|craft|create|generate|give me|come up with|make me|invent"
    r"|make up"
    r"|écri[st]|écrivez|écrire|rédige[rz]?|escribe|escriba|escribir|redacta|schreib|schreibe"
    r"|verfasse|dichte|scrivi|scrivere|componi|escreva|escrever|напиши|написать|сочини)"
)

KEYWORD_CUES: tuple[Cue, ...] = (
    # --- Summarization ---------------------------------------------------------------------
    Cue("kw:summarize", S, 3.5,
        r"\bsummar(?:y|ies|i[sz]e[sd]?|i[sz]ing|i[sz]ation)\b|\btl;dr\b|\btl; dr\b|\btl dr\b|\btldr\b|\brecap\w*"
        r"|\bsynops[ie]s\b"
        r"|\bsum (?:it|this|that|them|everything) up\b|\bsum up\b|\bcliff'?s? ?notes\b"
        r"|\brésume[rz]?\b|\bres[uú]m(?:en|ir|a|ame|eme|elo|ela|í|iendo|o|an)\b"
        r"|\bresume (?=(?:este|esta|esto|el|la|los|las|lo|o|os|me)\b)"
        r"|\bsynth[ée]ti[sz]\w*|\bsynth[èe]se\b|\bsintetiz\w*|\bsintesi\b|\briassum\w*|\briepilog\w*"
        r"|\bzusammenfass\w*|\bfass\w*(?=" + _NEAR + r"zusammen\b)|\bkurzfassung\b"
        r"|\bstreszcz\w*|\bpodsumuj\w*|\bsamenvat\w*|\bvat (?=(?:\w+ ){0,6}samen\b)|\bözetle\w*"
        r"|\bsammanfatt\w*|\bopsummer\w*|\bкратк\w*|\bрезюм\w*|\bпереска\w*|\bвыжимк\w*"
        r"|总结|概括|摘要|归纳|概述|简述|要約|まとめ|요약|간추"),
    Cue("kw:gist", S, 3.5,
        r"\bgist\b|\bhighlights\b|\bin a nutshell\b"
        r"|\bwhat (?:was|did (?:we|they|you) (?:decide|agree)|has been) (?:decided|agreed)\b|\bwhat did (?:we"
        r"|they) decide\b"
        r"|\bwhat(?:'s| is| was) the (?:outcome|upshot|conclusion)\b|\bdecisions? (?:made|taken)\b"
        r"|\b(?:short|shorter|brief|condensed|compact|quick|one|two|three) version\b"
        r"|\b(?:one|two|three|four|five|single|\d+)-(?:line|sentence|word|paragraph) version\b|\bbottom line\b"
        r"|\bkey arguments\b"
        r"|\boverview of (?:this|these|the (?:\w+ )?(?:below|above|following|article|text|document|report"
        r"|paper|op-ed|thread|email|chapter|book|notes|discussion))\b|\bboil\w*(?=(?:\W+\w+){0,4}?\W+down\b)"
        r"|\bcondens\w*"
        r"|\bkey (?:points|takeaways|findings|messages|ideas|facts)\b"
        r"|\bmain (?:points|ideas|takeaways|arguments|themes|findings|message)\b|\btake-?aways\b"
        r"|\bexecutive summary\b|\bwhat(?:'s| is) (?:this|it|that) (?:all )?about\b"
        r"|\bwhat does (?:this|it|the \w+) say\b|\bwhat(?:'s| is) (?:this|it|the \w+) saying\b"
        r"|\bin plain (?:words|english|language)\b|\bin simple terms\b|\bthe short version\b|\bwhat i (?:actually "
        r"|really )?need to know\b"
        r"|\bhigh-?level overview\b|\bpoints? cl[ée]s?\b|\bl'essentiel\b|\ben bref\b"
        r"|\bpuntos? clave\b|\blo esencial\b|\bpunti chiave\b|\bpontos? (?:principais|chave)\b"
        r"|\bdas wichtigste\b|\bkernaussage\w*|\bkernpunkte\b|\bсуть\b"
        r"|\bосновн\w+ (?:мысл|иде|момент|пункт)\w*|要点|核心内容|重点|핵심"),
    Cue("kw:abstract", S, 3.0,
        r"\b(?:write|draft|give|produce|create|generate)\b(?=(?:\W+\w+){0,3}?\W+abstract\b"
        r"(?!\s+(?:class|method|base|syntax|type|factory|data|art|painting)))"),
    Cue("kw:shorten", S, 2.5,
        r"\bshorten\w*|\btrim (?:it|this) down\b|\bcut (?:it|this) down\b|\braccourci\w*"
        r"|\bacorta\w*|\bkürze\w*|\bсократи\w*|缩写|精简|缩短|短くして|줄여"),
    Cue("len:short", S, 1.2,
        r"\bin (?:one|two|three|four|five|a few|a couple of|\d+) (?:short )?"
        r"(?:sentences?|bullets?|bullet points|lines?|paragraphs?)\b"
        r"|\b(?:one|two|three|four|five|\d+)[- ](?:sentence|line|paragraph|bullet)s? "
        r"(?:summary|version|overview)\b|\binto (?:\w+ ){0,2}bullets?\b|\b\d+ bullets?\b"
        r"|\bbullets? (?:max|only)\b|\bbullet points\b|\bto one line\b|\bone line\b"
        r"|\bviñetas\b|\bvinetas\b|\bpuces\b|\bstichpunkt\w*|\bв (?:двух|трех|трёх|одном) предложени\w*"
        r"|\bконспект\w*|(?:一|两|三|四|五)句话|(?<=\d)句话|三行|(?<=\d)行で"),
    Cue("kw:briefer", S, 1.0, r"\bshorter\b|\bmore concise\b|\bconcise\b|\bbriefer\b|\bbriefly\b"),
    Cue("kw:summarizer_role", S, 2.5,
        r"\bsummari[sz]er\b|\bmeeting (?:notes|minutes)\b|\bminutes of\b|\bnote-?taker\b"),
    # --- Extraction ------------------------------------------------------------------------
    Cue("kw:extract", E, 3.5,
        r"\bextract\w*|\bpull (?=(?:out|all|every|the)\b)"
        r"|\bpull out\b|\bparse\b(?!\s+error)|\bnamed entit\w*|\bentities\b|\bner\b"
        r"|\bextrai[st]?\b|\bextraire\b|\bextrayez\b|\bextrae[rn]?\b|\bextraiga\b|\bextraia\b"
        r"|\bextrair\b|\bextrahier\w*|\bentnimm\w*|\bestra(?:i|rre|etti)\b|\bизвлек\w*|\bизвлеч\w*"
        r"|\bвыпиши\b|\bвытащи\b|\bwyodrębnij\w*|\bwypisz\b|\bextraheer\w*|\bçıkar\b|\bextrahera\b|提取|抽取|摘出|找出所有|列出所有"
        r"|抽出|取り出|抜き出|추출|뽑아"),
    Cue("kw:list_from", E, 2.5,
        r"\b(?:list|get|give|find|grab|pick|identify|collect|show|tell|need|want|return|output|print)\b"
        r"(?=(?:\W+\w+){0,8}?\W+"
        r"(?:(?:of|for) (?:every|each|all) \w+ (?:below|above|listed)|(?:from|in|out of|mentioned in"
        r"|contained in) (?:this|these|that|it|here|the (?:\w+ ){0,2}"
        r"(?:below|above|following|text|email|document|page|log|logs|article|message|paragraph"
        r"|invoice|receipt|contract|thread|file|data|list|table|report|transcript|resume|cv"
        r"|recipe|itinerary|form|letter|record|records)))\b)"
        r"|\b(?:every|all|each) \w+(?: \w+)? (?:mentioned|listed|named|referenced)\b"
        r"|\bmentioned in (?:this|the)\b|\bfill (?:in|out) (?:the|this) (?:form|fields|template)\b"
        r"|\b(?:give me|list|find|get|show me|return|collect|pull) (?:all|every)\b"
        r"|\b(?:found|mentioned|listed|contained|appearing|present) in (?:this|the|these) \w+"
        r"|\b(?:alle|tous les|toutes les|todos los|todas las|tutti i|tutte le|todos os"
        r"|todas as)\b(?=(?:\W+\w+){0,2}?\W+"
        r"(?:namen|personen|orte|daten|beträge|adressen|noms|personnes|lieux|dates|montants|adresses|nombres"
        r"|personas|lugares|fechas|importes|direcciones|nomi|persone|luoghi|date|importi|indirizzi|nomes"
        r"|pessoas|datas|valores|endereços|e-?mails?|urls?|links?)\b)"
        r"|\bheraus(?:ziehen|schreiben|suchen|filtern)\b|\brausschreiben\b|\bauflisten\b"
        r"|\bwho signed\b|\brelève\w*|\benumera\b"
        r"|\bfrom (?:this|the|these)\b(?=(?:\W+\w+){1,4}?,? (?:list|give me|get|pull|extract|find|tell me"
        r"|identify)\b)"
        r"|\b(?:using|based on|from) only (?:what'?s|what is|the information|information) (?:in|given in|stated in)"
        r" the (?:text|document|article|review|email|passage)\b"),
    Cue("kw:json_fields", E, 3.0,
        r"\b(?:to|into|as|in|return|output|produce|valid|only) (?:a |valid )?json\b"
        r"|\bjson (?:object|array|with|format|only)\b|\bwith (?:the )?(?:keys|fields)\b"
        r"|\b(?:keys|fields|columns|attributes|properties)\s*[:=]|\bkey[- ]value\b"
        r"|\bnull (?:for|if) (?:missing|absent|unknown)\b|\bstructured (?:data|output|format)\b"
        r"|\b(?:as|to|into) (?:a )?csv\b|\byou are a (?:parser|data extractor|extraction)\b"),
    Cue("kw:table", E, 1.8,
        r"\b(?:as|in|into) (?:a |the )?(?:table|spreadsheet)\b|\btabulat\w*"
        r"|\bsous forme de tableau\b|\ben (?:un )?tableau\b|\ben (?:una )?tabla\b"
        r"|\bals tabelle\b|\bin (?:einer )?tabelle\b|\bв виде таблицы\b|表格|表にして|表形式|표로"),
    # --- Classification --------------------------------------------------------------------
    Cue("kw:classify", C, 3.5,
        r"\bclassif\w*|\bclasific\w*|\bcategori[sz]\w*|\bcategor(?:y|ies)\b|\bcatégori\w*"
        r"|\bcategor[ií]a\w*|\bkategori\w*|\bsklasyfikuj\w*|\bclassificeer\w*|\bsınıflandır\w*|\bklassifi\w*"
        r"|\bклассифи\w*|\bкатегори\w*"
        r"|\bordne\w*(?=" + _NEAR + r"zu\b)|\bzuordn\w*|\beinordn\w*|\bзаклассифиц\w*"
        r"|分类|归类|类别|属于哪|分類|カテゴリ|분류|카테고리"),
    Cue("kw:label", C, 2.5,
        r"\blabel(?:l?ing|l?ed)?\s+(?=(?:this|these|each|every|the following|them|it|all|as)\b)"
        r"|\b(?:assign|choose|pick|apply)\s+(?=(?:\w+\s+){0,2}(?:label|tag|category|class|topic"
        r"|department|bucket|priority|genre|intent|sentiment|score|rating)s?\b)"
        r"|\bmark (?=(?:each|which|whether|them|these|every|all)\b)"
        r"|\bwhich (?:ones? |of (?:these|them) )?(?:are|is) [\w-]+(?: [\w-]+)? and which\b"
        r"|どの(?:部署|カテゴリ|分類|ジャンル|種類)|哪个(?:部门|类别|类)|哪一类|어느 (?:부서|카테고리)"
        r"|\btag (?=(?:this|these|each|every|the following|them|it|all)\b)"
        r"|\btag\w* (?=(?:\w+ ){0,3}(?:with|as|by) (?:an? |the |their )?"
        r"(?:intent|topic|label|category|sentiment|emotion|language)\b)"
        r"|\bwhich (?:label|tag|bucket|class|category|section|department|team|queue|folder|genre"
        r"|topic|type of (?:request|ticket|issue|message))\b|\btriage\b"
        r"|\broute (?:this|these|each|the) (?:ticket|message|email|request)s?\b"
        r"|\b(?:ticket|message|email|support) router\b|\bmoderator\b"
        r"|\b(?:sort|split|group|separate|divide|bin) (?=(?:\w+ ){0,4}into\b)"
        r"|\bwhich (?:ones? )?(?:are|is) (?:about|related to|positive|negative)\b"
        r"|\bwhich (?=(?:of (?:these|them|the following) )?(?:\w+ ){0,3}(?:looks?|seems?|sounds?) like\b)"
        r"|\bétiquet\w*|\betiquet\w*|\betichett\w*|打标签|标注|ラベル"),
    Cue("kw:label_what", C, 2.5,
        r"\b(?:tag|label|identify|detect|determine|guess|name) the (?:\w+ )?(?:language|sentiment|tone|topic|intent"
        r"|category|emotion|genre|mood)s?\b(?! model)"),
    Cue("kw:label_key", C, 3.0, r"\b(?:label|category|class|sentiment|intent|topic)\"\s*:"),
    Cue("kw:rating", C, 2.5,
        r"\brate (?=(?:\w+\W+){0,4}(?:as|from|on a scale|out of)\b)|\bgrade (?:this|these|it|each)\b"
        r"|\bscore (?:this|these|it|each) (?:from|on|as|out of)\b|\bon a scale (?:of|from)\b"
        r"|\bfrom 1 \(\w+\) to \d+\b|\bnote (?:de|sur) \d+\b|\bbewerte\w*"),
    Cue("kw:judge", C, 1.5,
        r"\b(?:decide|determine|judge|check|tell me|say|indicate|flag|evaluate|assess|identify|mark"
        r"|label) (?:if|whether)\b|\bdétermine[rz]? si\b|\bindique[rz]? si\b|\bdis(?:-moi)? si\b"
        r"|\bdetermina si\b|\bindica si\b|\bdime si\b|\bbestimme\w*,? ob\b|\bentscheide\w*,? ob\b"
        r"|\bsag mir,? ob\b|\bопредели\w*,? (?:ли|является)\b|判断|判定|かどうか|인지 아닌지"
        r"|\burgent\w* (?:or|ou|o|oder) (?:not|non|no|nicht)\b"
        r"|\bflag (?:any|all|each|every)\b|\bscam\b|\blegit(?:imate)?\b"),
    Cue("kw:belongs", C, 1.5,
        r"\b(?:belongs?|goes|go|falls?|fits?) (?:in|into|under)\b|\bbelongs? to (?:which|one)\b"),
    Cue("kw:sentiment", C, 3.0,
        r"\bsentiment\w*|\bpositive(?:,| or| /|/) ?(?:negative|neutral)\b"
        r"|\bnegative(?:,| or| /|/) ?(?:positive|neutral)\b|\btone of (?:this|the)\b"
        r"|\bsentimiento\b|\bstimmung\b|\bтональн\w*|\bpositi\w* (?:o|ou|oder|или|of|lub|veya|eller) n[eé]gati\w*"
        r"|情感|情绪|正面.{0,3}负面|负面.{0,3}正面|积极.{0,3}消极|好评.{0,3}差评|ポジティブ|ネガティブ|感情分析|감정|긍정|부정적"),
    Cue("kw:intent_spam", C, 2.5,
        r"\bintent\b|\bspam\b|\btoxic\w*|\bmoderat(?:e|ion)\b|\bnsfw\b|\bhate speech\b"
        r"|\bphishing\b|\bsarcas\w*|\bsincere\b|\bclickbait\b|\bdetect (?:the )?language\b"
        r"|\b(?:which|what) language (?:is|was)\b|\blanguage (?:it'?s|it is|they'?re|this is) written in\b"
        r"|\blanguage of (?:this|that|the)\b|\bsafe for work\b"
        r"|\bcommunity (?:rule|guideline|standard)s?\b|\bpolicy violation\b|垃圾邮件|スパム|스팸"),
    Cue("kw:yes_no", C, 2.5,
        r"\byes\s*(?:/|or|\|)\s*no\b|\btrue\s*(?:/|or)\s*false\b|\boui\s*(?:/|ou)\s*non\b"
        r"|\banswer (?:only )?(?:with )?(?:yes|no|true|false)\b|\bno(?= ?/ ?yes\b| or yes\b)"
        r"|\bja(?= ?/ ?nein\b| oder nein\b)|\bsi(?= ?/ ?no\b| o no\b)|\bsí(?= ?/ ?no\b| o no\b)"
        r"|\bда(?= ?/ ?нет\b| или нет\b)"
        r"|是或否|是/否|はい(?:か|/)いいえ|예\s*(?:/|또는)\s*아니"),
    Cue("kw:one_label", C, 1.8,
        r"\b(?:one|single|1) word\b|\b(?:only|just) (?:give |return |output |reply with |answer with )?"
        r"(?:me )?the (?:label|category|class|level|letter|tag|number|score|grade)\b|\bexactly one of\b"
        r"|\bone of(?: the following)?:"
        r"|\breply (?=(?:only )?with (?:only )?(?:one|the label|the category|a single|the language)\b)"
        r"|\bno explanation\b"
        r"|\bone label\b|\bun seul mot\b|\buna (?:sola )?palabra\b"
        r"|どれか(?:一つ|ひとつ)|いずれか|选择一个|只回答|중 하나"
        r"|\bein(?:em)? (?:einzigen )?wort\b"),
    Cue("kw:severity", C, 2.0,
        r"\bseverity\b|\bpriorit(?:y|ät|é|à|ad|ade)\b(?! queue)|\burgency\b|\bsévérité\b|\bgravedad\b|\bschweregrad\b"
        r"|\b(?:p0|p1|p2|p3|p4|s0|s1|s2|s3|s4|sev[0-4]|prio[0-4])"
        r"(?=\W{1,5}(?:to|-|–|through|or)\W{1,5}(?:p|s|sev|prio)[0-4]\b)"),
    Cue("kw:is_it_x_or_y", C, 2.0,
        r"\b(?:whether|if) (?:it|this|that|they|each(?: \w+)?|the \w+|these \w+)"
        r"(?:'s|'re| is| are| was| sounds?| seems?| looks?)\s+(?:an? )?[\w-]+(?: [\w-]+)?,? or\b"
        r"|^\W*(?:is|are) (?:this|these|it|that|they)\s+(?:an? )?[\w-]+,? or (?:an? )?[\w-]+\W*$"),
    # --- CodeGeneration --------------------------------------------------------------------
    Cue("kw:write_code", K, 3.5,
        r"\b(?:write|create|make|build|implement|generate|give me|code|show me|need|want)\b(?="
        r"(?:\W+\w+){0,4}?\W+(?:function|method|class|script|program|snippet|query|regex|regexp"
        r"|endpoint|api|component|hook|module|unit tests?|test cases?|cli|parser|decorator"
        r"|algorithm|bot|dockerfile|makefile|workflow|migration|one-?liner|oneliner|lambda"
        r"|macro|plugin|webhook|cron ?job|crud|sql|app|website|web ?page|library|package|server"
        r"|yaml|manifest|config|configuration|helm chart|docker-compose|pipeline|github action"
        r"|struct|interface|enum|type)s?\b)"),
    Cue("kw:fix_code", K, 3.0,
        r"\b(?:fix|debug|refactor|optimi[sz]e|review|rewrite|port|convert|translate|speed up"
        r"|clean up|type[- ]?hint|lint|compile|vectori[sz]e|parallelize)\b(?=(?:\W+\w+){0,3}?\W+"
        r"(?:code|function|script|bug|query|snippet|method|class|loop|program|implementation"
        r"|regex|test|python|javascript|java|rust|typescript|sql|go)s?\b)"
        r"|\brefactor\w*|\bdebug\w*|\bstack ?trace\b|\bsegfault\b|\bcompil(?:e|er|ation) error\b"
        r"|\bsyntax error\b|\bnull ?pointer\b|\bundefined is not\b"
        r"|\breturns? (?:undefined|null|none|nan|nil|an empty)\b|\bthrows? (?:an? )?\w*(?:error|exception)\b"
        r"|\boff-by-one\b|\bunit tests?\b|\bpull request\b|\bcode review\b|\bworker pool\b"
        r"|\bgoroutines?\b|\bidiomatic\b|\bbig-?o\b|\btime complexity\b|\bbuild (?:fails|error)\b"),
    Cue("kw:lang", K, 2.5,
        r"\bpython\d?\b|\bjavascript\b|\btypescript\b|\bnode(?:\.?js)\b|\bjava\b(?! (?:coffee|island))"
        r"|\bkotlin\b|\bc\+\+|\bc#|\bcpp\b|\bgolang\b|\bphp\b|\bscala\b|\bhaskell\b|\bbash\b|\bzsh\b"
        r"|\bpowershell\b|\bsql\b|\bpostgres\w*|\bmysql\b|\bsqlite\b|\bt-sql\b|\bpl/sql\b|\bhtml5?\b"
        r"|\bcss3?\b|\bscss\b|\breact(?:js)?\b|\bvue(?:\.?js)?\b|\bangular\b|\bsvelte\b|\bnext\.?js\b"
        r"|\bdjango\b|\bflask\b|\bfastapi\b|\bspring boot\b|\b(?<=\.)net\b|\bpandas\b|\bnumpy\b|\bpytorch\b"
        r"|\btensorflow\b|\bscikit-learn\b|\bsklearn\b|\bjquery\b|\bgraphql\b|\bmatlab\b|\bvba\b"
        r"|\blua\b|\bobjective-c\b|\bfortran\b|\bcobol\b|\bverilog\b|\bvhdl\b|\bsolidity\b|\bjsx\b"
        r"|\btsx\b|\bwebpack\b|\bnpm\b|\bpip install\b|\bcargo\b|\bmaven\b|\bgradle\b|\bjupyter\b"
        r"|\bselenium\b|\bpyspark\b|\bregexp?\b|\bregular expressions?\b"
        r"|\bgit\b|\bexcel formula\b|\bvlookup\b|\bxlookup\b|\bmongodb\b|\bkubectl\b|\bdockerfile\b"
        r"|\bhelm chart\b|\bterraform\b|\bansible\b|\bkubernetes\b|\bk8s\b|\bnginx\b|\byaml\b|\bdocker\w*"
        r"|\bgithub actions\b|\bci/cd\b|\blatex\b"
        r"|\b(?:in|to|into|with|using) (?:rust|go|ruby|swift|dart|elixir|julia|perl|r|c)\b"
        r"(?! (?:major|minor|sharp|flat))"
        r"|\b(?:rust|go|ruby|swift|dart|elixir|julia|perl)(?: code| function| program| script)\b"),
    Cue("kw:code", K, 2.0,
        r"\bcode\b(?!s? (?:of conduct|word))|\bcoding\b|\bprogramming\b|\bcodebase\b"
        r"|\bsource code\b|\bcompiler\b|\bfunction\b|\bdataframes?\b|\bvariables?\b|\barrays?\b|\bhashmap\b"
        r"|\bdictionary\b(?= (?:in|of|with) python)|\brecursi\w*|\blinked lists?\b"
        r"|\bbinary (?:search )?trees?\b|\bhash ?(?:table|map|set)s?\b|\bbfs\b|\bdfs\b"
        r"|\bdynamic programming\b|\bquick ?sort\b|\bmerge ?sort\b|\bbinary search\b"
        r"|\bsorting algorithm\b|\bdata structures?\b|\bnull check\b|\bdiv\b"
        r"|\bflexbox\b|\bcss grid\b|\bmedia quer\w*|\bdom\b|\bonclick\b|\blru cache\b|\bo\(1\)|\bo\(n\)"
        r"|\bcallback\b|\basync\b|\bawait\b"
        r"|\bcódigo\b|\bfunci[oó]n\b|\bfonction\b|\bfunktion\b|\bfunzione\b|\bfunção\b|\bcodice\b"
        r"|\bprogramm(?:ier\w*|a|e)\b|\bskript\b|\bscript\b|\bскрипт\w*|\bкод\w*|\bфункци\w*"
        r"|\bпрограмм\w*|代码|函数|编程|程序|脚本|正则|报错|コード|関数|プログラム|スクリプト"
        r"|正規表現|実装|코드|함수|프로그램|스크립트|구현|服务器|数据库|算法|爬虫|接口|前端|后端"
        r"|サーバ|データベース|アルゴリズム|서버|데이터베이스|알고리즘|파이썬|자바스크립트"),
    # "用 Go 实现", "Python で書いて", "Python 으로 작성" (Latin words are spaced apart from CJK first).
    Cue("kw:write_code_cjk", K, 3.0,
        r"用 [a-z+#.]+ ?(?:实现|写|编写|开发)|(?<=[a-z+#.] )で(?:書|実装|作)|(?<=[a-z+#.])で(?:書|実装|作)"
        r"|(?<=[a-z+#] )으로 (?:작성|구현|만들)|(?<=[a-z+#] )로 (?:작성|구현|만들)"),
    Cue("kw:tech", K, 1.0,
        r"\bapi\b|\bsdk\b|\bbackend\b|\bfrontend\b|\bdatabase\b|\bquery\b|\bschema\b|\bcommit\b"
        r"|\bgithub\b|\bjson\b|\bcli\b"
        r"|\bterminal\b|\bcommand line\b|\bone-?liner\b|\boneliner\b|\blinux\b|\bserver\b"
        r"|\bendpoint\b|\bbug\b|\bexception\b|\berror message\b|\bdeploy\w*|\bcomponent\b"),
    Cue("kw:dev_role", K, 2.5,
        r"\b(?:software|backend|frontend|front-end|back-end|full-?stack|devops|web|ios|android|python"
        r"|java|go|rust|c\+\+|javascript|typescript|react) (?:engineer|developer|programmer)\b"
        r"|\b(?:you are|you're|act as|acting as) (?:an? )?(?:\w+ ){0,3}(?:engineer|developer|programmer)\b"
        r"|\bcoding assistant\b"
        r"|\bcode reviewer\b|\bpair programmer\b"),
    # --- Reasoning -------------------------------------------------------------------------
    Cue("kw:prove", R, 3.0,
        r"\bprove\b|\bproof\b|\bdemonstrate that\b|\bshow that\b|\btheorem\b|\blemma\b"
        r"|\bprouve[rz]?\b|\bdémontre[rz]?\b|\bdemuestr\w*|\bdemostrar\b|\bbeweis\w*|\bdimostr\w*"
        r"|\bprove que\b|\bдокаж\w*|\bдоказ\w*|证明|証明|증명"),
    Cue("kw:math", R, 2.5,
        r"\bprobabilit\w*|\bwhat(?:'s| is| are) the (?:chances?|odds|likelihood)\b|\bprobabilidad\w*"
        r"|\bwahrscheinlichkeit\w*|\bвероятност\w*|概率|確率|확률"
        r"|\bexpected value\b|\bequations?\b|\bsolve\b(?! (?:this |the |my )?(?:bug|error|issue))"
        r"|\bintegral\b|\bderivative\b|\bdifferentiate\b|\bprime\b|\bprimzahl\w*|\bpremier\b"
        r"|\bfactori[sz]\w*|\bdivisible\b|\bmodulo\b|\bgcd\b|\blcm\b|\bsquare root\b"
        r"|\blogarithm\w*|\bcombinatori\w*|\bpermutations?\b|\bhow many ways\b|\bgeometr\w*"
        r"|\btriangle\b|\bperimeter\b|\bcircumference\b|\bhypotenuse\b|\bradius\b|\bdiameter\b"
        r"|\brectangle\b|\barea of\b|\bvolume of\b|\bpercent(?:age)? (?:increase|decrease|change)\b"
        r"|\bcompound interest\b"
        r"|\bcalculat\w*|\bcompute\b|\bwork out\b|\bcalcul[ae]\w*|\bberechne\w*|\bвычисл\w*"
        r"|\bпосчита\w*|\bреши\w*|\bзадач\w*|计算|求解|方程|計算|방정식|계산|\bmath\w*"
        r"|\barithmetic\b|\balgebra\w*|\bcalculus\b|\birrational\b|\binteger\w*|\bodd\b|\beven\b"
        r"|\bfractions?\b|\bratio\b|\baverage speed\b|\bkm/h\b|\bmph\b|\bfair (?:coin|die|dice)\b"
        r"|\bdice\b|\bdeck of cards\b|\bin a row\b|\bat random\b|\brandomly (?:chosen|drawn|picked)\b"
        r"|\bexpected (?:number|value)\b|\bassum(?:e|ing) (?:that|no|a|the|each|every|all)\b"),
    Cue("kw:logic", R, 3.0,
        r"\blogic(?:al)? (?:puzzle|question|problem|riddle|error|fallacy|flaw)\b|\bfallac\w*"
        r"|\b(?:all|some|no) (?=(?:\w+ ){1,3}(?:are|is)\b.{0,100}\b(?:all|some|no) (?:\w+ ){1,3}(?:are|is)\b)"
        r"|\bcan (?:we|you|i) conclude\b|\bdoes it (?:necessarily )?follow\b|\bvalid conclusion\b|\b(?:argument"
        r"|statement|reasoning|claim"
        r"|syllogism)\b(?=.{0,80}\b(?:valid|sound|flaw\w*)\b)|\bpuzzle\b|\briddle\b|\bbrain ?teaser\b"
        r"|\bknights? and knaves\b|\bdeduc\w*|\binfer\b|\bsyllogism\w*|\bparadox\w*"
        r"|\blateral thinking\b|\bclues?\b|\bénigme\b|\bacertijo\b|\brätsel\w*|\bindovinello\b"
        r"|\bзагадк\w*|\bголоволомк\w*|\bлогик\w*|谜题|逻辑|推理|論理|パズル|논리|퍼즐|수수께끼"
        r"|\bhow (?:can|could|would|do) you (?=(?:\w+ ){0,3}(?:determine|figure out|tell|know"
        r"|guarantee|ensure|identify|find out|correctly|be sure)\b)"),
    Cue("kw:stepwise", R, 2.5,
        r"\bstep[- ]by[- ]step\b|\bshow (?:your|the|all) (?:work|steps|reasoning|working)\b"
        r"|\bexplain (?:your|the) (?:reasoning|logic|steps)\b|\bthink (?:carefully|step|it through|hard)\b"
        r"|\bwalk me through\b|\breason(?:ing)? (?:through|about|carefully)\b|\bchain of thought\b"
        r"|\bjustify\b|\bétape par étape\b|\bpaso a paso\b|\bschritt für schritt\b"
        r"|\bpasso (?:dopo|a) passo\b|\bпошагов\w*|\bход (?:рассуждени|решени)\w*|\bрассужд\w*"
        r"|\braisonnement\b|\brazonamiento\b|\bragionamento\b|\braciocínio\b|\bbegründ\w*"
        r"|一步一步|逐步|推导|步骤|ステップ|段階的|단계별|풀이"),
    Cue("kw:analysis", R, 2.0,
        r"\banaly[sz]\w*|\banalis\w*|\banalys\w*|\bанализ\w*|分析|분석|\btrade-?offs?\b"
        r"|\bpros and cons\b|\bcompare\b|\bcomparison\b|\bversus\b|\bevaluat\w*|\bassess\w*"
        r"|\bcritique\b|\bimplications?\b|\broot cause\b|\bmost likely (?:cause|explanation|reason)s?\b"
        r"|\blikely causes?\b|\b(?:possible|main|potential) (?:reasons?|causes?|explanations?|factors)\b"
        r"|\btell (?:them|these|the two) apart\b|\bdepreciat\w*|\bcompounded\b|\bper annum\b"
        r"|\bdistinguish between\b|\bdiagnos\w*|\bnarrow (?:it|this|things"
        r"|the problem) down\b"
        r"|\btroubleshoot\w*|\bwhat would happen if\b|\bhypothes\w*|\bcounterfactual\b"),
    Cue("kw:counterfactual", R, 1.5,
        r"\bwhat would have\b|\b(?:could|would) have (?:been )?prevented\b|\bhow (?:could|can) (?:we|this"
        r"|it) (?:have )?"
        r"(?:been )?(?:avoided|prevented)\b|\blessons? learned\b"),
    Cue("kw:plan", R, 2.0,
        r"\bplan(?:ning)?\b(?! (?:to|on)\b)|\bschedul\w*|\bitinerary\b|\bconstraints?\b|\boptimal\b"
        r"|\bstrateg\w*|\bshould i\b(?=(?:\W+\w+){1,14}?\W+or\b)|\bwhich (?:option|is better"
        r"|would you (?:choose|pick|recommend))\b|\brecommendation\b|\bdecision\b"
        r"|\brecommend (?:one|which|the better|a winner)\b|\b(?:help me )?decide (?:between|whether to|which"
        r"|what to)\b|\bchoos\w* between\b"
        r"|\bhelp me (?:think|decide|figure out|weigh|work out)\b|\bthink (?:this |it )?through\b|\bdepends? on\b"
        r"|\bin what order\b"
        r"|\bprioriti[sz]e\b|\ballocat\w*|\bsatisf(?:y|ies) (?:all|every)\b|\bfit (?:these|them|it) into\b"),
    Cue("kw:estimate", R, 1.2,
        r"\bestimat\w*|\bfermi\b|\bhow (?:long|far|fast|much time) (?:will|would|does|did) it take\b"
        r"|\bhow many (?:hours|minutes|days|years|times)\b"
        r"|\bcombien de temps\b|\bcuánto tiempo\b|\bwie lange\b|\bза сколько\b"
        r"|\bсколько (?:час|минут|дней|лет)\w*|多长时间|多少小时|多少天|何時間|何分|몇 시간"),
    Cue("kw:distance_time", R, 0.8, r"\bat what time\b|\bcatch up\b|\bhow far\b|\bmeet\b"),
    Cue("kw:word_problem", R, 1.5,
        r"\bin total\b|\bmore than the\b|\b(?:doubles|triples|halves)\b|\b(?:grows|increases|decreases) by \d"
        r"|\b(?:times|twice|half) as (?:many|much|old|fast|long)\b"
        r"|\b(?:twice|(?:two|three|four|five|\d+) times|half) (?:the|his|her|their|its) \w+"
        r"|\bin \d+ years\b|\b\d+ years ago\b|\bhow much (?:does|do|did|will|would) (?:the|each|one|it)\b"
        r"|\beach (?:costs?|weighs?)\b"
        r"|\bthere are \d+ \w+|\bif (?:a|an|one|each|every) \w+(?: \w+)? (?:costs?|takes?|travels?"
        r"|weighs?)\b|\bat the end\b(?=.*\?)|\bhow many (?:\w+ ){0,3}(?:are|will|would|can|do|does)\b"),
    Cue("kw:why", R, 1.0,
        r"\bwhy\b|\bpourquoi\b|\bpor qu[eé]\b|\bwarum\b|\bperché\b|\bпочему\b|为什么|なぜ|どうして|왜"),
    Cue("kw:reasoner_role", R, 2.0,
        r"\b(?:math|maths|physics) tutor\b|\bmathematician\b|\blogician\b|\bshow your work\b"),
    # --- CreativeWriting -------------------------------------------------------------------
    Cue("kw:poem", W, 3.5,
        r"\bpoe(?:m|ms|try|tic)\b|\bpoème\w*|\bpoésie\b|\bpoema\w*|\bpoesia\b|\bgedicht\w*"
        r"|\bhaiku\w*|\bhaïku\b|\blimerick\w*|\bsonnet\w*|\bverses?\b|\brhym\w*|\blyrics?\b"
        r"|\bchorus\b|\bballad\b|\bode to\b|\bacrostic\b|\bnursery rhyme\w*|\blullab\w*|\bfilastrocc\w*"
        r"|\bninna nanna\b|\bcomptine\w*|\bberceuse\b|\bkinderreim\w*|\bschlaflied\w*|\bколыбельн\w*"
        r"|童谣|儿歌|童謡|子守唄|동요|\balexandrins?\b|\bquatrains?\b"
        r"|\bstanzas?\b|\bvillanelle\w*|\bghazal\w*|\belegy\b|\bepigram\w*|\bfree verse\b|\btanka\b"
        r"|\bcinquain\b|\bsestina\b|\bcouplets?\b|\bspoken word\b|\bpoesie\b|\bpoezj\w*"
        r"|\bстих\w*|诗|歌词|詩|俳句|短歌|歌詞|시를|시 한|가사"),
    Cue("kw:song", W, 2.0,
        r"\bsongs?\b|\bchansons?\b|\bcanci[oó]n\w*|\bcanzon\w*|\bcanç[aã]o\b|\blied\b|\bliedtext\w*"
        r"|\bпесн\w*|歌曲|歌を|노래"),
    Cue("kw:story", W, 2.5,
        r"\b(?<!user )stor(?:y|ies)\b(?! points?)|\bfairy ?tales?\b|\bfables?\b|\bparables?\b"
        r"|\bbedtime\b|\bnovella\b|\bfan ?fic\w*|\bscreenplay\b|\bskit\b|\bmonologue\b"
        r"|\bopening (?:scene|line|paragraph|chapter)\b|\bmain character\b|\bprotagonist\b"
        r"|\bcharacter (?:arc|sketch|development)\b|\bplot twist\b|\bworld-?building\b"
        r"|\b(?:fantasy|mystery|romance|sci-fi|thriller|crime|historical|detective|graphic|my) novel\b"
        r"|\bonce upon a time\b|\bconte\b|\brécit\b|\bcuentos?\b|\brelato\b|\bmärchen\b|\bcontos?\b"
        r"|\bmyths?\b|\blegends?\b(?! (?:of|for) (?:the )?(?:map|chart))|\bfolk ?tales?\b|\bfiaba\b|\bracconti\b"
        r"|\berzählung\b|\bkurzgeschichte\b|\bracconto\b|\bfavola\b|\bрассказ\w*|\bсказк\w*"
        r"|故事|小说|童话|剧本|物語|小説|童話|ストーリー|이야기|소설|동화"
        r"|\b(?:histoire|historia|geschichte|storia|história|историю)\b(?=(?:\W+\w+){0,4}?\W+"
        r"(?:sur|sobre|über|su|про|d'un|d'une|de un|de una|von|di un|di una)\b)"),
    Cue("kw:write_piece", W, 3.0,
        r"\b" + _WRITE + r"\b(?=(?:\W+\w+){0,5}?\W+(?:essay|article|blog|post|tweet|thread|caption"
        r"|speech|toast|eulogy|letter|email|e-mail|cover letter|bio|description|ad|advert"
        r"|copy|jingle|scene|chapter|dialogue|script|song|joke|review|newsletter|press release"
        r"|announcement|invitation|card|vows|headlines?|outline|prologue|epilogue|story|poem|diary"
        r"|entry|journal|backstory|backstories|names|verse|sonnet|limerick|fable|myth|riddle"
        r"|lyrics|rap|ballad|novel|character|plot|pitch|message|note|limerick|haiku"
        r"|lettre|discours|carta|discurso|brief|rede|lettera|письмо|речь|песню)s?\b)"
        r"|写一?(?:篇|首|封)|作文"),
    Cue("kw:essay", W, 2.5,
        r"\bessays?\b|\bensayo\b|\baufsatz\b|\bsaggio breve\b|\bэссе\b|\bсочинени\w*|作文|散文"
        r"|随笔|エッセイ|에세이|\bredacci[oó]n\b|\breda[cç][aã]o\b|\bop-ed\b|\boped\b"),
    Cue("kw:slogan", W, 3.0,
        r"\bslogans?\b|\btaglines?\b|\bjingles?\b|\bcatchphrases?\b|\bcatchy\b|\bcopywrit\w*"
        r"|\bad copy\b|\bmarketing copy\b|\bproduct description\b|\blinkedin post\b|\bpress release\b"
        r"|\bname ideas\b|\bbrand name\b|口号|广告语|文案|キャッチコピー|슬로건"),
    Cue("kw:writer_role", W, 2.5,
        r"\bcopywriter\b|\bnovelist\b|\bpoet\b|\bstoryteller\b|\bscreenwriter\b|\bghostwriter\b"
        r"|\bspeechwriter\b|\bcreative writ\w*|\bin the style of\b|\bin the voice of\b"),
    Cue("kw:style", W, 1.2,
        r"\b(?:upbeat|witty|playful|whimsical|melanchol\w*|heartfelt|humorous|vivid|evocative"
        r"|lyrical|first person|third person|present tense|past tense|happy ending|cringe|emojis?)\b"
        r"|\bmélancol\w*|\bmelancol\w*|\bdramatic\b|\bsuspense\w*|\blustig\w*|\bdrôle\b"
        r"|\bdivertid\w*|\bdivertente\b|\bengraçad\w*|\bfunny\b|\bfictional\b|\bpoint of view\b"
        r"|\bbackstory\b|\bpov\b"),
    Cue("kw:write_about", W, 1.5,
        r"\b(?:write|compose|create|invent|make up) (?:me )?(?:a|an|some) (?=(?:\w+ ){0,2}(?:about|on the theme)\b)"
        r"|\bschreib\w* (?=(?:\w+ ){0,4}(?:text|karte|\w+karte|einladung|glückwunsch\w*|rede|brief)\b)"),
    Cue("kw:rewrite", W, 1.5,
        r"\brewrite\b|\brephrase\b|\bparaphrase\b|\breword\b|\bproofread\b|\bpolish\b"
        r"|\bmake (?:it|this) (?:sound )?(?:more )?(?:formal|casual|friendly|professional|funnier"
        r"|polite|persuasive|engaging|poetic|dramatic)\b|\bbrainstorm\w*|\bimagine\b|\bpretend\b"
        r"|\brole-?play\w*"),
    Cue("kw:write", W, 0.6, r"\b" + _WRITE + r"\b|写|書いて|作って|써\s*줘|작성"),
    Cue("len:words", W, 1.0,
        r"\b(?:about |around |approximately |roughly |under |max(?:imum)? |at most |up to )?"
        r"\d{2,4}[- ]?(?:words?|mots|palabras|wörter|parole|слов)\b|\b(?<=~)\d{2,4}\b|(?<=\d)字"),
    # --- Chat ------------------------------------------------------------------------------
    Cue("kw:greeting", H, 1.5,
        r"^\W*(?:(?:hi|hello|hey|yo|hiya|howdy|good (?:morning|afternoon|evening)|greetings"
        r"|bonjour|salut|coucou|hola|buenas|hallo|servus|moin|ciao|salve|olá|oi|привет"
        r"|здравствуй\w*)\b|你好|您好|嗨|こんにちは|こんばんは|おはよう|안녕)"),
    Cue("kw:smalltalk", H, 1.5,
        r"\bhow(?:'s| is) it going\b|\bhow are you\b|\bwhat'?s up\b|\bnice to meet\b"
        r"|\bgood night\b|\bthanks\b|\bthank you\b|\bcheers\b|\bmerci\b|\bgracias\b|\bdanke\b"
        r"|\bgrazie\b|\bobrigad[oa]\b|\bспасибо\b|谢谢|多谢|ありがとう|감사|고마워|\bça va\b"
        r"|\bcómo estás\b|\bwie geht'?s\b|\btell me a joke\b|\bbored\b|\bhow was your day\b"),
    Cue("kw:advice", H, 1.0,
        r"\btips?\b|\badvice\b|\brecs\b|\brecommend\b|\bsuggest\w*|\bany (?:good )?ideas\b"
        r"|\b(?<!what )is it (?:safe|ok|okay|normal|bad|healthy|true|worth)\b|\bwhat should i\b"
        r"|\bconseils?\b|\bconsejos?\b|\btipps?\b|\bconsigli\b|\bсовет\w*|建议|推荐|おすすめ"
        r"|アドバイス|추천|조언"),
    Cue("kw:factual", H, 0.8,
        r"\bwhat(?:'s| is| are) the (?:capital|population|meaning|definition|difference)\b"
        r"|\bwho (?:wrote|invented|discovered|painted|directed|founded|is|was)\b|\bdefine\b"
        r"|\bhow do you (?:say|spell|pronounce)\b|\bwhat does \w+ mean\b|\bdiff?e?rence between\b"
        r"|\bhow many \w+ (?:in|are in) an? \w+\b"
        r"|\bwhich (?:is|one is|was|are) (?:the )?(?:\w+er|more \w+|better|worse|best|oldest|largest)\b"),
    Cue("kw:translate", H, 1.0,
        r"\btranslat\w*|\btradu\w*|\bübersetz\w*|\bперевед\w*|翻译|翻訳|번역"),
    Cue("kw:chat_role", H, 1.5,
        r"\bfriendly\b|\bconversational\b|\bchit-?chat\b|\bcompanion\b|\bsmall talk\b"),
)

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
CHOICE_LIST = re.compile(
    r"\b(?:[\w-]++(?: [\w-]++){0,3}, )++(?:[\w-]++(?: [\w-]++){0,3}? )?(?:or|oder|ou|o|или|or maybe) [\w-]"
    r"|\b[\w-]++(?: [\w-]++){0,2},? (?:or|oder|ou|o|или) [\w-]++(?= ?\?)"
)
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
