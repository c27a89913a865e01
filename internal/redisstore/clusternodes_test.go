package redisstore

import (
	"slices"
	"testing"
)

func TestParseClusterNodes(t *testing.T) {
	reply := `07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,redis-4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master,fail - 1426238316232 0 3 disconnected
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave,fail? 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460
garbage line
`
	nodes := parseClusterNodes(reply)
	if len(nodes) != 5 {
		t.Fatalf("parsed %d nodes, want 5: %+v", len(nodes), nodes)
	}
	var up []string
	for _, n := range nodes {
		if !n.gone() {
			up = append(up, n.addr)
		}
	}
	if want := []string{"127.0.0.1:30004", "127.0.0.1:30002", "127.0.0.1:30001"}; !slices.Equal(up, want) {
		t.Errorf("nodes not gone = %v, want %v", up, want)
	}
	if n := nodes[0]; !n.is("slave") || n.master != "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca" || n.servesSlots {
		t.Errorf("replica parsed as %+v", n)
	}
	if n := nodes[4]; !n.is("master") || !n.servesSlots || n.id != "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca" {
		t.Errorf("master parsed as %+v", n)
	}
	if nodes[2].servesSlots {
		t.Errorf("a failed master without slots parsed as serving slots: %+v", nodes[2])
	}
}
