module github.com/unswift/unswift

go 1.26.8
