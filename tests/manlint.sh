#!/bin/sh
# The manual pages must be clean under mandoc's linter.
echo "1..4"
i=0
status=0
for page in wsgated.8 wsgatectl.8 wsgate.conf.5 wsgate-protocol.7; do
	i=$((i + 1))
	out=$(mandoc -Tlint -Wwarning "$srcdir/man/$page" 2>&1)
	if [ -z "$out" ]; then
		echo "ok $i - mandoc -Tlint $page"
	else
		echo "not ok $i - mandoc -Tlint $page"
		echo "$out" | sed 's/^/# /'
		status=1
	fi
done
exit $status
