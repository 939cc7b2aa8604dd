
return {
  name = nil,
  allocate = function(site)
    dofile("/etc/passwd")
    return {}
  end,
}
