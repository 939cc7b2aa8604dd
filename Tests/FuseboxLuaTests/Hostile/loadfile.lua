
return {
  name = nil,
  allocate = function(site)
    loadfile("/etc/passwd")
    return {}
  end,
}
