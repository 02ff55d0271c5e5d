package b64

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestAppendEncodeMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		prefix := []byte(`{"result":"`)
		got := AppendEncode(bytes.Clone(prefix), src)
		want := base64.StdEncoding.AppendEncode(bytes.Clone(prefix), src)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: got %q, want %q", n, got, want)
		}
	}
}

func FuzzAppendEncode(f *testing.F) {
	f.Add([]byte{}, []byte("hello, world"))
	f.Add([]byte("x"), bytes.Repeat([]byte{0xff, 0x00, 0x80}, 40))
	f.Fuzz(func(t *testing.T, prefix, src []byte) {
		got := AppendEncode(bytes.Clone(prefix), src)
		want := base64.StdEncoding.AppendEncode(bytes.Clone(prefix), src)
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendEncode(%q, %q) = %q, want %q", prefix, src, got, want)
		}
	})
}

func BenchmarkAppendEncode(b *testing.B) {
	for _, size := range []int{64, 4096, 65536} {
		src := bytes.Repeat([]byte("héllo wörld "), size/12+1)[:size]
		dst := make([]byte, 0, base64.StdEncoding.EncodedLen(size))
		b.Run("b64/"+strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				dst = AppendEncode(dst[:0], src)
			}
		})
		b.Run("stdlib/"+strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				dst = base64.StdEncoding.AppendEncode(dst[:0], src)
			}
		})
	}
}
