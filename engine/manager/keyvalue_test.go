package manager

import (
	"fmt"
	"strings"
	"testing"
)

// TestKeyValues: the one KEY=VALUE reader splits at the first "=", skips
// lines without one, and drops \n and \r\n line ends.
func TestKeyValues(t *testing.T) {
	var got []string
	for k, v := range keyValues([]byte("A=1\r\nnoise\n\nB=x=y\nC=\nD=last")) {
		got = append(got, k+"|"+v)
	}
	if s := fmt.Sprint(got); s != "[A|1 B|x=y C| D|last]" {
		t.Fatalf("pairs %s", s)
	}
}

// TestKeyValueReadersTakeLongLines: a line longer than a bufio.Scanner's
// 64 KiB (a long Names= of systemctl show, a long line a status command
// printed) does not end the reading early: the keys after it are read by
// systemctl show's parser, the batch's unit matcher and the command
// manager's report alike.
func TestKeyValueReadersTakeLongLines(t *testing.T) {
	long := strings.Repeat("x", 70<<10)
	show := []byte("Names=" + long + "\nId=web.service\nActiveState=active\nMainPID=42\n")
	info, err := parseShow(show)
	if err != nil || info.ActiveState != "active" || info.MainPID != 42 {
		t.Fatalf("parseShow: %+v, %v", info, err)
	}
	if !blockIsUnit(show, "web") {
		t.Errorf("blockIsUnit: the Id after the long line was not read")
	}
	rep, err := parseStatusReport([]byte("noise " + long + "\nrc=0\npid=7\n"))
	if err != nil || rep.pid != 7 {
		t.Fatalf("parseStatusReport: %+v, %v", rep, err)
	}
}
