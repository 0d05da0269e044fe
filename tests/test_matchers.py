"""Alertmanager matchers (django_slack_rules.matchers): syntax, semantics, RE2, fan-out.

Pure: no database. Alertmanager's own behaviour is the reference; where a test says
"Alertmanager", the expectation comes from its parsers (pkg/labels/parse.go, the classic
one, and matcher/parse, the UTF-8 one) and dispatch/route.go.
"""

from __future__ import annotations

import pickle

import pytest
import re2
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from django_slack_rules.matchers import (
    CriteriaError,
    Matcher,
    MatcherRegexError,
    MatcherSyntaxError,
    PlainRule,
    canonical_criteria,
    failing_matchers,
    fan_out,
    format_matchers,
    is_classic_label_name,
    matches_all,
    parse_criteria,
    parse_matcher,
    parse_matchers,
    positive_equalities,
    select_rules,
)


def m(name, op, value):
    return Matcher(name, op, value)


# ----------------------------------------------------------------------------- syntax


class TestParsing:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('severity="critical"', m("severity", "=", "critical")),
            ("severity=critical", m("severity", "=", "critical")),
            ('team!="db"', m("team", "!=", "db")),
            ('severity=~"critical|page"', m("severity", "=~", "critical|page")),
            ('env!~"prod|staging"', m("env", "!~", "prod|staging")),
            ("env=prod", m("env", "=", "prod")),
            # whitespace around the three parts is dropped (not inside quotes)
            ('  env  =  "prod"  ', m("env", "=", "prod")),
            ('env=" prod "', m("env", "=", " prod ")),
            ("env = prod ", m("env", "=", "prod")),
            # the classic parser: a bare value runs to the end, spaces included
            ("msg=disk full", m("msg", "=", "disk full")),
            # empty values
            ('team=""', m("team", "=", "")),
            ("team=", m("team", "=", "")),
            ('team!=""', m("team", "!=", "")),
            # =~ is read before = (the value is not "~x")
            ("a=~x", m("a", "=~", "x")),
            ("a= ~x", m("a", "=", "~x")),
            # colons are allowed in classic names, as in Alertmanager
            ("job:rate=1", m("job:rate", "=", "1")),
        ],
    )
    def test_operators_values_and_whitespace(self, text, expected):
        assert parse_matcher(text) == expected

    @pytest.mark.parametrize(
        ("text", "value"),
        [
            (r'quote="say \"hi\""', 'say "hi"'),
            (r'path="C:\\temp"', "C:\\temp"),
            (r'lines="a\nb"', "a\nb"),
            # the classic parser keeps a backslash before anything else: regexes read well
            (r'code=~"5\d\d"', r"5\d\d"),
            (r"code=~5\d\d", r"5\d\d"),
            (r'x="trailing\\"', "trailing\\"),
            (r"x=a\"b", 'a"b'),
        ],
    )
    def test_escapes_in_values(self, text, value):
        assert parse_matcher(text).value == value

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            # a quoted name is read by Alertmanager's UTF-8 parser, values as Go strings
            ('"service.name"="api"', m("service.name", "=", "api")),
            ('"a b"=~"x|y"', m("a b", "=~", "x|y")),
            (r'"tab"="a\tb"', m("tab", "=", "a\tb")),
            (r'"e"="caf\u00e9"', m("e", "=", "café")),
            (r'"e"="caf\xc3\xa9"', m("e", "=", "café")),
            # a bare name with no reserved character, not classic: also UTF-8
            ("service.name=api", m("service.name", "=", "api")),
            ("höhe=1", m("höhe", "=", "1")),
            ("1st=x", m("1st", "=", "x")),
        ],
    )
    def test_utf8_label_names(self, text, expected):
        assert parse_matcher(text) == expected

    def test_str_is_canonical_alertmanager_text(self):
        assert str(parse_matcher("severity = critical")) == 'severity="critical"'
        assert str(parse_matcher(r'q="a\"b\\c' + "\\n" + '"')) == r'q="a\"b\\c\n"'
        assert str(parse_matcher("service.name=api")) == '"service.name"="api"'
        assert str(parse_matcher(r'code=~"5\d\d"')) == r'code=~"5\\d\\d"'

    @pytest.mark.parametrize(
        ("text", "position", "words"),
        [
            (
                "severity critical",
                8,
                [
                    'expected one of =, !=, =~, !~ after the label name "severity" at position 8',
                    'severity="value"',
                ],
            ),
            ("severity", 8, ["after the label name", "the matcher ends there"]),
            ("", 0, ["the matcher is empty", 'severity="critical"']),
            ("   ", 3, ["the matcher is empty"]),
            ("=critical", 0, ["expected a label name at position 0", '"service.name"="api"']),
            ('team="db', 5, ["no closing quote", 'team="db"']),
            ('team=a"b', 6, ["unescaped double quote at position 6", r'team="a\"b"']),
            ('team="a"b"', 7, ["unescaped double quote at position 7", r'team="a\"b"']),
            (
                "severity=critical,team=db",
                17,
                ['a "," at position 17', "own entry", 'severity="critical,team=db"'],
            ),
            ('{severity="critical"}', 0, ['unexpected "{"', "without braces"]),
            ('severity="critical"}', 19, ['unexpected "}"']),
            ('"a.b"=', 6, ['expected a value after "="', '""']),
            ('"a.b"=x y', 8, ['unexpected "y" at position 8 after the value', "quote a value"]),
            (r'"a.b"="\d"', 7, [r'invalid escape "\d" at position 7', r'"\\d+"']),
            ('"a.b="x"', 6, ["expected one of =, !=, =~, !~ after the label name"]),
            ('""="x"', 0, ["the label name at position 0 is empty"]),
        ],
    )
    def test_syntax_errors_say_where_and_how(self, text, position, words):
        with pytest.raises(MatcherSyntaxError) as caught:
            parse_matcher(text)
        error = caught.value
        assert not isinstance(error, MatcherRegexError)
        assert (error.text, error.position) == (text, position)
        assert str(error).startswith("matcher ")
        for word in words:
            assert word in str(error)

    def test_error_is_a_value_error_and_pickles(self):
        with pytest.raises(ValueError, match="expected one of") as caught:
            parse_matcher("a b")
        copy = pickle.loads(pickle.dumps(caught.value))
        assert (type(copy), str(copy), copy.position, copy.text) == (
            MatcherSyntaxError,
            str(caught.value),
            caught.value.position,
            "a b",
        )

    def test_classic_label_names(self):
        assert is_classic_label_name("severity")
        assert is_classic_label_name("_x:y9")
        assert not is_classic_label_name("9x")
        assert not is_classic_label_name("service.name")


class TestParseMatchers:
    """Several matchers in one text, as an Alertmanager ``matchers:`` entry holds them."""

    @pytest.mark.parametrize(
        "text",
        [
            '{foo = "bar", dings != "bums", }',
            "foo=bar,dings!=bums",
            "foo=bar, dings!=bums",
            ' { foo="bar" , dings!="bums" } ',
        ],
    )
    def test_alertmanager_examples(self, text):
        assert parse_matchers(text) == (m("foo", "=", "bar"), m("dings", "!=", "bums"))

    def test_commas_inside_quotes_stay(self):
        text = r'{quote="She said: \"Hi, ladies! That\'s gender-neutral…\""}'
        assert parse_matchers(text) == (
            m("quote", "=", 'She said: "Hi, ladies! That\\\'s gender-neutral…"'),
        )
        assert parse_matchers('a=~"x{1,3}",b=c') == (m("a", "=~", "x{1,3}"), m("b", "=", "c"))

    def test_nothing(self):
        assert parse_matchers("") == ()
        assert parse_matchers("{}") == ()

    def test_error_positions_are_in_the_whole_text(self):
        with pytest.raises(MatcherSyntaxError) as caught:
            parse_matchers('a="1", b c')
        assert caught.value.position == 8
        assert caught.value.text == 'a="1", b c'


# -------------------------------------------------------------------------- semantics


class TestSemantics:
    def test_missing_label_is_the_empty_string(self):
        assert parse_matcher('team!="db"').matches({})
        assert parse_matcher('team=""').matches({})
        assert parse_matcher('team=""').matches({"team": ""})
        assert not parse_matcher('team=""').matches({"team": "db"})
        assert not parse_matcher('team="db"').matches({})
        assert parse_matcher('team=~"|db"').matches({})
        assert parse_matcher('team!~".+"').matches({})
        assert not parse_matcher('team=~".+"').matches({})

    def test_regexes_are_anchored_at_both_ends(self):
        matcher = parse_matcher('severity=~"cri"')
        assert not matcher.matches({"severity": "critical"})
        assert not matcher.matches({"severity": "xcri"})
        assert matcher.matches({"severity": "cri"})
        assert parse_matcher('severity=~"cri.*"').matches({"severity": "critical"})
        assert parse_matcher('severity!~"cri"').matches({"severity": "critical"})

    def test_alternation_is_anchored_as_a_whole(self):
        matcher = parse_matcher('severity=~"critical|page"')
        assert matcher.matches({"severity": "page"})
        assert not matcher.matches({"severity": "critical-ish"})
        assert not matcher.matches({"severity": "a page"})

    def test_regex_syntax_is_go_like(self):
        assert parse_matcher(r'code=~"5\d\d"').matches({"code": "503"})
        assert parse_matcher('host=~"(?i)DB-.*"').matches({"host": "db-1"})
        assert parse_matcher(r'name=~"\pL+"').matches({"name": "héllo"})
        # . does not match a newline, as in Go
        assert not parse_matcher('msg=~".*"').matches({"msg": "a\nb"})
        assert parse_matcher('msg=~"(?s).*"').matches({"msg": "a\nb"})

    def test_equality_operators(self):
        assert parse_matcher("a=1").matches({"a": "1", "b": "2"})
        assert not parse_matcher("a=1").matches({"a": "10"})
        assert parse_matcher("a!=1").matches({"a": "10"})

    def test_a_lone_surrogate_in_a_label_does_not_break_matching(self):
        assert parse_matcher('a=~".*"').matches({"a": "x\ud800"})
        assert not parse_matcher('a=~"x"').matches({"a": "x\ud800"})

    def test_matcher_rebuilt_from_parts_and_pickled(self):
        built = Matcher("a", "=~", "x|y")
        assert built.matches({"a": "y"})
        copy = pickle.loads(pickle.dumps(built))
        assert copy == built
        assert copy.matches({"a": "x"})

    def test_bad_parts(self):
        with pytest.raises(ValueError, match="Unknown matcher operator"):
            Matcher("a", "==", "b")
        with pytest.raises(ValueError, match="non-empty"):
            Matcher("", "=", "b")
        with pytest.raises(ValueError, match="only with the = operator"):
            Matcher("a", "!=", "b", require_present=True)

    def test_negated(self):
        for text in ['a="1"', 'a!="1"', 'a=~"1|2"', 'a!~"1|2"']:
            matcher = parse_matcher(text)
            for labels in ({}, {"a": "1"}, {"a": "3"}):
                assert matcher.negated().matches(labels) is not matcher.matches(labels)


class TestRE2:
    """Patterns Python's re accepts and RE2 refuses are errors that say how to write them."""

    @pytest.mark.parametrize(
        ("text", "position", "words"),
        [
            (r'x=~"(a)\1"', 7, ["Backreferences", r"\1", "spell the repeated text out"]),
            ('x=~"foo(?=bar)"', 7, ["lookahead", "(?=", "second matcher"]),
            ('x=~"foo(?!bar)"', 7, ["negative lookahead", "second matcher"]),
            ('x=~"(?<=a)b"', 4, ["lookbehind"]),
            ('x=~"(?P<n>a)(?P=n)"', 12, ["Named backreferences"]),
            ('x=~"a++"', 5, ["possessive", "a+"]),
            ('x=~"a{1001}"', 5, ["at most 1000"]),
            (r'x=~"a\Z"', 5, [r"\Z", "anchored at both ends already"]),
            ("team!~db(", 6, ["missing )", "Balance the brackets"]),
            (r'"a.b"=~"(a)\\1"', 11, ["Backreferences"]),
        ],
    )
    def test_refusals_name_the_matcher_position_and_fix(self, text, position, words):
        with pytest.raises(MatcherRegexError) as caught:
            parse_matcher(text)
        error = caught.value
        assert isinstance(error, MatcherSyntaxError)
        assert error.position == position, str(error)
        assert "is not valid RE2" in str(error)
        assert str(error).startswith("matcher ")
        for word in words:
            assert word in str(error), str(error)

    def test_the_list_entry_is_named(self):
        with pytest.raises(MatcherRegexError) as caught:
            parse_criteria(['severity="critical"', "team!~db("])
        assert str(caught.value).startswith('matcher 2 ("team!~db("): the regex "db(" ')
        assert caught.value.index == 1

    def test_refused_when_built_directly(self):
        with pytest.raises(MatcherRegexError, match="lookahead") as caught:
            Matcher("x", "=~", 'say"(?=a)')
        assert caught.value.text == r'x=~"say\"(?=a)"'
        assert caught.value.text[caught.value.position :].startswith("(?=")

    def test_pathological_pattern_is_linear(self):
        """(a+)+$ backtracks exponentially in Python's re; RE2 answers at once. This
        asserts the answer only: a backtracking engine would not finish the test."""
        matcher = parse_matcher('x=~"(a+)+$"')
        evil = "a" * 50_000 + "b"
        assert not matcher.matches({"x": evil})
        assert matcher.matches({"x": "a" * 50_000})
        nested = parse_matcher('x=~"(a|aa|a?)*(a*)*b"')
        assert not nested.matches({"x": "a" * 50_000 + "c"})

    def test_re2_is_what_we_think(self):
        """google-re2 behaves as the module relies on: errors are re2.error with RE2's
        message, and a pattern is not anchored unless we anchor it."""
        with pytest.raises(re2.error):
            re2.compile(r"(a)\1")
        assert re2.compile("cri").search("critical") is not None
        assert re2.compile("^(?:cri)$").search("critical") is None


# ---------------------------------------------------------------------------- criteria


labels_strategy = st.dictionaries(
    st.sampled_from(["alertname", "severity", "team", "env", "a"]),
    st.sampled_from(["", "critical", "db", "prod", "x", "1"]),
    max_size=5,
)


class TestCriteria:
    def test_dict_form_is_equality_with_the_label_present(self):
        matchers = parse_criteria({"team": "", "severity": "critical"})
        assert [str(x) for x in matchers] == ['severity="critical"', 'team=""']
        assert matches_all(matchers, {"severity": "critical", "team": ""})
        # unlike Alertmanager's team="", a missing label does not match
        assert not matches_all(matchers, {"severity": "critical"})
        assert matches_all(parse_criteria({}), {"anything": "x"})

    def test_list_form_is_alertmanager(self):
        matchers = parse_criteria(['severity=~"critical|page"', 'team!="db"', "env=prod"])
        assert matches_all(matchers, {"severity": "page", "env": "prod"})
        assert not matches_all(matchers, {"severity": "page", "env": "prod", "team": "db"})
        assert matches_all(parse_criteria([]), {"anything": "x"})

    @pytest.mark.parametrize(
        ("criteria", "words"),
        [
            (None, ["not null", '{"severity": "critical"}', "list of Alertmanager matchers"]),
            ("severity=critical", ["not a string"]),
            ({"": "x"}, ["non-empty label names"]),
            ({" ": "x"}, ["non-empty label names"]),
            ({"code": 500}, ["not a number", '{"code": "500"}']),
            (["a=b", 3], ["matcher 2 must be a string", "not a number"]),
            (["a=b", "c d"], ['matcher 2 ("c d"): expected one of']),
        ],
    )
    def test_bad_criteria(self, criteria, words):
        with pytest.raises(CriteriaError) as caught:
            parse_criteria(criteria)
        for word in words:
            assert word in str(caught.value)

    def test_canonical_criteria_keep_their_form(self):
        assert canonical_criteria({"b": "2", "a": "1"}) == {"a": "1", "b": "2"}
        assert canonical_criteria(["b = 2", "a=~x"]) == ['b="2"', 'a=~"x"']

    def test_format_matchers_refuses_what_alertmanager_cannot_say(self):
        assert format_matchers(parse_criteria({"team": "db"})) == ['team="db"']
        with pytest.raises(ValueError, match="present and empty"):
            format_matchers(parse_criteria({"team": ""}))

    def test_positive_equalities_can_anchor_an_index(self):
        matchers = parse_criteria(['a="1"', 'b=""', 'c!="3"', 'd=~"4"', 'e="5"'])
        assert positive_equalities(matchers) == (("a", "1"), ("e", "5"))
        assert positive_equalities(parse_criteria({"t": "", "u": "v"})) == (("t", ""), ("u", "v"))

    @given(labels_strategy)
    def test_positive_equalities_hold_in_every_match(self, labels):
        matchers = parse_criteria(['team="db"', 'env!="x"', 'a=""'])
        if matches_all(matchers, labels):
            assert all(labels.get(k) == v for k, v in positive_equalities(matchers))

    def test_failing_matchers_explain_a_miss(self):
        matchers = parse_criteria(['a="1"', 'b!="2"'])
        assert failing_matchers(matchers, {"a": "0", "b": "2"}) == list(matchers)
        assert failing_matchers(matchers, {"a": "1"}) == []

    @given(
        st.dictionaries(
            st.sampled_from(["alertname", "severity", "team", "env", "a"]),
            st.sampled_from(["", "critical", "db", "prod", "x", "1"]),
            max_size=4,
        ),
        labels_strategy,
    )
    def test_dict_form_is_the_old_definition(self, criteria, labels):
        old = all(labels.get(k) == v for k, v in criteria.items())
        assert matches_all(parse_criteria(criteria), labels) is old


# ------------------------------------------------------------------ round trip (Hypothesis)

text_no_surrogates = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
classic_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,8}", fullmatch=True)
any_names = st.one_of(classic_names, text_no_surrogates.filter(bool))
literal_patterns = text_no_surrogates.map(re2.escape)
sample_patterns = st.sampled_from(["critical|page", ".*", r"5\d\d", "(?i)db-.*", "a+b?", ""])


@st.composite
def matchers(draw):
    op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
    name = draw(any_names)
    if op in ("=", "!="):
        value = draw(text_no_surrogates)
    else:
        value = draw(st.one_of(literal_patterns, sample_patterns))
    return Matcher(name, op, value)


@given(matchers())
@settings(max_examples=300)
def test_round_trip(matcher):
    assert parse_matcher(str(matcher)) == matcher
    assert parse_matchers(str(matcher)) == (matcher,)
    assert parse_matchers(f"{{{matcher}, {matcher}}}") == (matcher, matcher)


@given(st.lists(matchers(), max_size=4))
def test_list_form_round_trip(items):
    assert parse_criteria(format_matchers(items)) == tuple(items)


@given(text_no_surrogates, text_no_surrogates)
def test_escaped_literal_regex_matches_only_itself(literal, other):
    matcher = Matcher("x", "=~", re2.escape(literal))
    assert matcher.matches({"x": literal})
    assume(other != literal)
    assert not matcher.matches({"x": other})


# ----------------------------------------------------------------------------- fan-out


def rule(name, priority, criteria, cont=False):
    return PlainRule.from_criteria(name, priority, criteria, cont)


class TestFanOut:
    def test_one_rule_without_continue(self):
        rules = [rule("low", 1, {}), rule("high", 9, {"team": "db"})]
        assert [r.name for r in select_rules(rules, {"team": "db"})] == ["high"]
        assert [r.name for r in select_rules(rules, {"team": "web"})] == ["low"]

    def test_continue_takes_the_next_matching_rule(self):
        rules = [
            rule("all", 0, []),
            rule("page", 9, ['severity=~"critical|page"'], cont=True),
            rule("db", 5, ['team="db"'], cont=True),
            rule("never", 7, ['team="web"'], cont=True),
        ]
        got = select_rules(rules, {"severity": "page", "team": "db"})
        assert [r.name for r in got] == ["page", "db", "all"]
        assert [r.name for r in select_rules(rules, {"severity": "page"})] == ["page", "all"]
        assert [r.name for r in select_rules(rules, {"team": "db"})] == ["db", "all"]

    def test_a_rule_without_continue_stops_the_chain(self):
        rules = [
            rule("a", 3, [], cont=True),
            rule("b", 2, []),
            rule("c", 1, [], cont=True),
        ]
        assert [r.name for r in select_rules(rules, {})] == ["a", "b"]

    def test_equal_priorities_by_name(self):
        rules = [rule("b", 1, [], cont=True), rule("a", 1, [], cont=True)]
        assert [r.name for r in select_rules(rules, {})] == ["a", "b"]

    def test_no_match(self):
        assert select_rules([rule("x", 1, ["a=1"])], {}) == []
        assert fan_out([]) == []

    @given(
        st.lists(
            st.tuples(
                st.integers(-2, 2),
                st.lists(
                    st.sampled_from(['team="db"', 'severity!="x"', 'env=~"prod|x"']), max_size=2
                ),
                st.booleans(),
            ),
            max_size=8,
        ),
        labels_strategy,
    )
    def test_selection_is_a_continue_chain_over_the_ranking(self, specs, labels):
        rules = [rule(f"r{i}", p, c, cont) for i, (p, c, cont) in enumerate(specs)]
        selected = select_rules(rules, labels)
        ranked = sorted(
            (r for r in rules if matches_all(r.matchers, labels)),
            key=lambda r: (-r.priority, r.name),
        )
        assert selected == ranked[: len(selected)]
        assert all(r.continue_matching for r in selected[:-1])
        if selected and len(selected) < len(ranked):
            assert not selected[-1].continue_matching
        assert bool(selected) == bool(ranked)
