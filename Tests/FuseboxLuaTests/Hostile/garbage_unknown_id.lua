
return {
  name = nil,
  allocate = function(site)
    return { nobody = 10 }
  end,
}
