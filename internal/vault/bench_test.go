package vault_test

import (
	"fmt"
	"testing"
)

// contactRecord is a realistic JSON contact record, the unit the
// gateway and provisioner encrypt (about 330 bytes).
func contactRecord(i int) []byte {
	return fmt.Appendf(nil, `{"businessName":"ACME Corporation Inc. %06d","secondaryName":"ACME Co.",`+
		`"phoneNumber":"+14165551212","addressLine1":"1 Yonge St","addressLine2":"Suite 1204",`+
		`"postalCode":"M5E 1E5","province":"ON","country":"CA","email":"ops%06d@acme.example",`+
		`"contactName":"Wile E. Coyote","notes":"prefers SMS between 9am and 5pm Eastern"}`, i, i)
}

// BenchmarkEncryptSingle measures one Encrypt call (one HTTP round trip)
// against the shared dev server.
func BenchmarkEncryptSingle(b *testing.B) {
	f := shared(b)
	id := newID(b)
	if err := f.retention.CreateKey(ctx(b), id); err != nil {
		b.Fatal(err)
	}
	rec := contactRecord(1)
	b.SetBytes(int64(len(rec)))
	c := ctx(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.provisioner.Encrypt(c, id, rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/item")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkEncryptBatch measures EncryptBatch with 1, 10 and 100 records
// per call; µs/item is the cost per record.
func BenchmarkEncryptBatch(b *testing.B) {
	f := shared(b)
	id := newID(b)
	if err := f.retention.CreateKey(ctx(b), id); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("size=%d", n), func(b *testing.B) {
			recs := make([][]byte, n)
			total := 0
			for i := range recs {
				recs[i] = contactRecord(i)
				total += len(recs[i])
			}
			b.SetBytes(int64(total))
			c := ctx(b)
			for b.Loop() {
				if _, err := f.provisioner.EncryptBatch(c, id, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/item")
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "items/s")
		})
	}
}
